"""Label smoothing and the fused projection loss against hand computations."""

import math

import torch

from toolkit.criterions.cross_entropy import summarize
from toolkit.criterions.fused_projection_loss import CHUNK_ROWS, projection_loss


def test_label_smoothing_matches_hand_computation():
    # Two tokens, vocabulary of 3, no projection: features are one-hot so logits = weight columns.
    weight = torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.5, 0.5]])
    features = torch.tensor([[2.0, 0.0], [0.0, 1.0]])
    target = torch.tensor([0, 2])
    eps = 0.2
    loss, nll = projection_loss(features, weight, None, target, eps)
    expected_loss = expected_nll = 0.0
    for logits, t in (([2.0, 0.0, 1.0], 0), ([0.0, 1.0, 0.5], 2)):
        log_z = math.log(sum(math.exp(x) for x in logits))
        logp = [x - log_z for x in logits]
        # fairseq: eps_i = eps / (V - 1); (1 - eps - eps_i) * nll + eps_i * sum(-logp)
        eps_i = eps / 2
        expected_nll += -logp[t]
        expected_loss += (1 - eps - eps_i) * -logp[t] + eps_i * -sum(logp)
    assert math.isclose(float(loss), expected_loss, rel_tol=1e-6)
    assert math.isclose(float(nll), expected_nll, rel_tol=1e-6)


def test_fused_gradients_equal_autograd_across_chunks():
    torch.manual_seed(0)
    n, d, v = CHUNK_ROWS + 37, 16, 29  # more than one chunk
    features = torch.randn(n, d, requires_grad=True)
    weight = torch.randn(v, d, requires_grad=True)
    bias = torch.randn(v, requires_grad=True)
    target = torch.randint(0, v, (n,))
    loss, _ = projection_loss(features, weight, bias, target, 0.1)
    (0.3 * loss).backward()
    fused = [t.grad.clone() for t in (features, weight, bias)]
    for t in (features, weight, bias):
        t.grad = None
    logp = torch.log_softmax(features @ weight.T + bias, dim=-1)
    eps_i = 0.1 / (v - 1)
    reference = (1 - 0.1 - eps_i) * -logp.gather(1, target[:, None]).sum() + eps_i * -logp.sum()
    (0.3 * reference).backward()
    torch.testing.assert_close(loss, reference, rtol=1e-5, atol=1e-3)
    for mine, theirs in zip(fused, (features.grad, weight.grad, bias.grad), strict=True):
        torch.testing.assert_close(mine, theirs, rtol=1e-4, atol=1e-5)


def test_no_grad_path_equals_grad_path():
    torch.manual_seed(1)
    features, weight, target = torch.randn(20, 8), torch.randn(11, 8), torch.randint(0, 11, (20,))
    with torch.no_grad():
        a = projection_loss(features, weight, None, target, 0.1)
    b = projection_loss(features.requires_grad_(), weight, None, target, 0.1)
    torch.testing.assert_close(a[0], b[0].detach())
    torch.testing.assert_close(a[1], b[1])


def test_summary_reports_base_2_and_perplexity():
    logs = [
        {"loss": 2 * math.log(2) * 10, "nll_loss": math.log(2) * 10, "ntokens": 10, "nsentences": 2, "sample_size": 10}
    ]
    stats = summarize(logs)
    assert math.isclose(stats["loss"], 2.0) and math.isclose(stats["nll_loss"], 1.0) and math.isclose(stats["ppl"], 2.0)

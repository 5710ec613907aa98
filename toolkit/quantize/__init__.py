"""int8 inference on the CPU: int8 weights with per-channel scales, in checkpoints that stay plain data.

int8.py: quantizing a matrix and the int8 linear layer; model.py: an fp32 model's int8 form;
checkpoint.py: the int8 checkpoint `nmt quantize` writes and what refuses it.
"""

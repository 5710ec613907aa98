from toolkit.data.bpe import count_words, learn_codes
from toolkit.data.text_processor import TextProcessor, TextProcessorConfig

LINES = [
    'Ein Mann, der auf einer Bank sitzt, liest "Die Zeit".',
    "Zwei Hunde spielen im Schnee.",
    "Eine Frau (mit Hut) läuft - schnell!",
]


def _processor(**kwargs) -> TextProcessor:
    base = TextProcessor(TextProcessorConfig("de"))
    codes = learn_codes(count_words(base.tokenize(line) for line in LINES * 3), 40)
    return TextProcessor(TextProcessorConfig("de", bpe_codes=codes, **kwargs))


def test_encode_decode_round_trip():
    processor = _processor()
    for line in LINES:
        encoded = processor.encode(line)
        assert "@@ " in encoded or encoded == processor.tokenize(line)
        assert processor.remove_bpe(encoded) == processor.tokenize(line)
        assert processor.decode(encoded) == line
    assert processor.tokenize(LINES[0]).startswith("Ein Mann , der")


def test_state_round_trip_is_plain_and_equal():
    processor = _processor()
    state = processor.to_state()
    assert all(isinstance(v, (str, bool, int, type(None))) for v in state.values())
    again = TextProcessor.from_state(state)
    assert again == processor
    assert again.encode(LINES[1]) == processor.encode(LINES[1])


def test_no_tokenizer_no_bpe():
    processor = TextProcessor(TextProcessorConfig("en", tokenize="none"))
    assert processor.encode("  a  b c ") == "a b c"
    assert processor.decode("a b c") == "a b c"

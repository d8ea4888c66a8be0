"""The Kafka service: the at-least-once consume, decode, score, produce, flush, commit loop."""

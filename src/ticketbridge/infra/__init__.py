"""Domain-free helpers every layer may use: the retry policy, the clock, escaping outside text."""

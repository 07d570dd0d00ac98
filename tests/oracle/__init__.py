"""OpenSSL as the oracle for verdicts: generated chains and real ones, judged by both."""

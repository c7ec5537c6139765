"""The machine's rules. Plain values in, results out, domain errors raised; no HTTP here."""

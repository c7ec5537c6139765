"""The worst case of zxcvbn (4.5.0) by password length, to choose how many characters app.services.users judges.

zxcvbn's l33t matcher tries every reading of the symbols that stand for letters, so its cost grows with how many
distinct ones a password holds (the 20 of L33T below) and, for each reading, with the square of the length. For
each length this finds the set of those symbols with the most readings (every combination is counted, which is
cheap), times a few orders of it and reports the slowest, in CPU time of this thread (the least of 7 runs, so
that other jobs on the machine count as little as possible), next to the whole 72-character run.

    .venv/bin/python bench/strength.py [lengths...]      # default: 8 10 11 12 13 14 16
"""

import itertools
import random
import sys
import time

from zxcvbn import zxcvbn
from zxcvbn.matching import L33T_TABLE, enumerate_l33t_subs, relevant_l33t_subtable

L33T = "4@8({[<369!1|70$5+%2"
USERNAME = "operator"


def readings(symbols: str) -> int:
    return len(enumerate_l33t_subs(relevant_l33t_subtable(symbols, L33T_TABLE)))


def cpu_ms(password: str, runs: int = 7) -> float:
    best = float("inf")
    for _ in range(runs):
        started = time.thread_time()
        zxcvbn(password, user_inputs=[USERNAME])
        best = min(best, time.thread_time() - started)
    return best * 1000


def worst_of_length(n: int) -> tuple[int, float, str]:
    ranked = sorted(((readings("".join(c)), "".join(c)) for c in itertools.combinations(L33T, min(n, 20))),
                    reverse=True)
    rng = random.Random(n)
    worst = (0.0, "")
    for _, symbols in ranked[:4]:
        for _ in range(6):
            password = "".join(rng.sample(symbols, len(symbols))) * (n // len(symbols) + 1)
            password = password[:n]
            worst = max(worst, (cpu_ms(password, 3), password))
    return ranked[0][0], cpu_ms(worst[1]), worst[1]


def main() -> None:
    lengths = [int(n) for n in sys.argv[1:]] or [8, 10, 11, 12, 13, 14, 16]
    print("| characters judged | most l33t readings | worst CPU time | its password |")
    print("|---|---|---|---|")
    for n in lengths:
        subs, ms, password = worst_of_length(n)
        print(f"| {n} | {subs} | {ms:.0f} ms | `{password}` |", flush=True)
    whole = (L33T * 4)[:72]
    print(f"| 72 (zxcvbn's own limit) | {readings(whole)} | {cpu_ms(whole, 2):.0f} ms | `{L33T}` repeated |")


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Writes the two-sense corpus that task=wordlm ships with (configs/data/two_senses.txt).

Every sentence holds the word "bank" in one of two senses, and only the words before it say
which: a river sentence ("the boat drifted downstream , so anna walked to the bank under the
willows .") or a money sentence ("the loan was overdue , so anna walked to the bank for a loan .").
The word right after "bank" depends on the sense, so a language model that predicts it must look
back from "bank" to the cue: the reason its heads should attend differently to the two senses'
occurrences. A third of the sentences hold no "bank" at all, so that the word is not the only
thing to learn. The generator is seeded: running it again gives the same file.

  scripts/make_two_senses_corpus.py [OUT]     (default: configs/data/two_senses.txt)
"""
import random
import sys

SENTENCES = 3000
SEED = 7

RIVER_CUES = [
    "the river was high", "the boat drifted downstream", "the fishermen cast their nets",
    "the water was cold", "the stream flooded the meadow", "the ducks swam past the reeds",
    "the current was strong", "the canoe was ready",
]
MONEY_CUES = [
    "the salary was paid", "the loan was overdue", "the cash ran out", "the account was empty",
    "the cheque had bounced", "the mortgage was due", "the invoice was late",
    "the savings were gone",
]
# What follows "bank": each sense's continuations begin with words of their own.
RIVER_PURPOSES = [
    "beside the reeds", "under the willows", "along the muddy path", "where the ducks swim",
    "downstream of the mill", "by the old boathouse",
]
MONEY_PURPOSES = [
    "with a cheque", "for a loan", "before it closed", "to open an account",
    "and asked the teller", "at the cash machine",
]
CONNECTORS = ["so", "and then", "after that", "that morning", "later"]
NAMES = ["anna", "tom", "maria", "li", "omar", "sara", "jonas", "priya"]
MOVES = ["walked to", "went to", "hurried to", "stopped at", "returned to"]
# Sentences without the word: the same people, other places.
PLACES = ["the market", "the station", "the library", "the garden", "the school"]
ERRANDS = ["to buy bread", "to meet a friend", "to read the news", "to water the roses",
           "to collect a parcel"]


def bank_sentence(rng):
    river = rng.random() < 0.5
    cue = rng.choice(RIVER_CUES if river else MONEY_CUES)
    purpose = rng.choice(RIVER_PURPOSES if river else MONEY_PURPOSES)
    return (f"{cue} , {rng.choice(CONNECTORS)} {rng.choice(NAMES)} {rng.choice(MOVES)} "
            f"the bank {purpose} .")


def other_sentence(rng):
    cue = rng.choice(RIVER_CUES + MONEY_CUES)
    return (f"{cue} , {rng.choice(CONNECTORS)} {rng.choice(NAMES)} {rng.choice(MOVES)} "
            f"{rng.choice(PLACES)} {rng.choice(ERRANDS)} .")


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else "configs/data/two_senses.txt"
    if out in ("-h", "--help"):
        print(__doc__)
        return
    rng = random.Random(SEED)
    lines = [bank_sentence(rng) if rng.random() < 2 / 3 else other_sentence(rng)
             for _ in range(SENTENCES)]
    with open(out, "w", encoding="utf-8") as file:
        file.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()

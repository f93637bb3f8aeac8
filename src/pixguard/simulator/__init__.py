"""Simulated Pix traffic: a population of payers and payees, normal payments with Pix's rhythms,
named fraud scenarios, late fraud reports (MED) and DICT reference data.

- `pixguard simulate --history DAYS` writes history into the Delta tables the stream writes
  (history.write_history, then stream.backfill runs it through the decision pipeline);
- `pixguard simulate --rate R --duration S | --count N` publishes live traffic to Kafka (live.py);
- `pixguard replay FILE` publishes a user's dataset after checking it against the contract (replay.py).
"""

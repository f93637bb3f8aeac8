"""Simulated Pix traffic: a population of payers and payees, normal payments with Pix's rhythms,
named fraud scenarios, late fraud reports (MED) and DICT reference data.

- `pixguard simulate --history DAYS` writes history into the Delta tables the stream writes
  (history.write_history, then stream.backfill runs it through the decision pipeline);
- `pixguard simulate --rate R --duration S | --count N` publishes live traffic to Kafka (live.py);
- `pixguard replay FILE` publishes a user's dataset after checking it against the contract (replay.py).

From Python: `runs.run_history(bundle, config, simulator_config, days, seed, end=None, backfill=True)`
writes transactions_truth, fraud_labels (reports received by `end`), key_registry and dict_marks,
then fills `decisions` through the real decision pipeline; `settings.load_simulator_config(root)`
reads conf/simulator.yaml (small populations make fast tests: PopulationSettings(persons=3000, ...)).
"""

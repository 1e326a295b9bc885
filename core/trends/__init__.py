"""History over runs: baselines, comparisons, trend queries, alerts and where alerts are sent."""

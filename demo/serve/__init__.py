"""`assay serve`: a local OpenAI-compatible chat-completions server with deterministic demo models
(demo_models) and fault injection (faults), stdlib only.

    from demo.serve import DemoServer
    with DemoServer(latency_ms=0) as srv:          # or: base_url = srv.start() ... srv.stop()
        srv.configure(faults=[{"kind": "429", "first_n": 2, "retry_after": 1}])
        ...  # litellm: model="openai/demo-strong", api_base=srv.base_url, api_key="any"
        srv.stats()["max_in_flight"]

Over HTTP: POST /_assay/config (latency_ms, latency_jitter_ms, latency_scale, rpm_limit, faults,
seed, system_fingerprint, model_version: what responses say served them, flip_rate: the share of
answers made wrong, see flips), GET /_assay/config, GET /_assay/stats, POST /_assay/reset.
"""

from demo.serve.background import DemoServer
from demo.serve.demo_models import MODELS

__all__ = ["DemoServer", "MODELS"]

"""Internal HTTP contracts: the request and response models of each service's `/internal/...`
API, one module per service that owns the API (`polls`, `routing`, `notify`, `media`,
`deadlines`).

Both sides import the same class: the owning service's route declares it as its body or
`response_model`, and the gateway (`services/intake/gateway/`) validates what it sends and what
it receives with it. A limit changed here changes on both sides at once; there are no copies to
drift. Beside `libs/common/events.py` (the broker's contract), this is the HTTP one.
"""

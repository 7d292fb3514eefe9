"""L4/L5 server: `server` (services, listening, graceful stop) over `connection` (one per client:
calls, idle and age limits, two-phase GOAWAY) over `call` (one RPC over a `ServerStream`, its own
`context`), with `handlers`, `interceptors` and `eager` start of calls that need no Task."""

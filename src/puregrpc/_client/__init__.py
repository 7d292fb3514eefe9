"""L4/L5 client: `channel` (target, options, what calls share) over `subchannel`s (one address
each: connection, backoff, connectivity state) chosen by a `picker`; `call`s (deadline, cancel,
interceptors, status) over `attempt`s (one stream each, replay buffer, commit point);
`multicallable`, `deadlines`, `interceptors`. (The client side of an HTTP/2 connection is
`puregrpc._transport.client_connection`.)"""

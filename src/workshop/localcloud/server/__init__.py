"""The local cloud's server: one process on 127.0.0.1 that puts moto behind the kit's guard.

Two floors, and the services (`../services/`) between them:

* what the services may use: `address` (host, port, account, the kit's
  route paths), `credentials` (the per-start key and its file), `identities`
  (the keys handed to Lambda functions), `protocols` (what a request's
  signature and protocol say), `inprocess` (the engine's calls served
  without a socket), `speedups` (moto's per-request costs cut);
* what wires the services together: `wiring` (which extension is installed
  when), `app` (the WSGI app and its route tables), `access` (host, origin
  and key checks), `heap`, `process` (serve, `LocalCloud`, health) and `cli`
  (`workshop local ...`).

Nothing on the first floor imports the second or a service.
"""

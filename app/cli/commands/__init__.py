"""One module per subcommand (`sync`, `serve`, `check`, `profile`, `vault`, `settings`, `store`, `sandbox`, ...), each
with ``main(args)``; may import every layer below (domain, clients, store, engine, push, setup), never app.ui."""

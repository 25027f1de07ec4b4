"""Push where possible, poll always: the scheduler, the webhook listener and receivers, subscription upkeep and
ConnectorService (run by the window and by `serve`). May import domain, clients, store, setup, engine; no Qt."""

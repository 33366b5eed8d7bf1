"""The operator's commands (``status``, ``preview``, ``approve``, ``reset``, ``unlock``, ``sync-one``): thin I/O
over the state store, the batch's plan and the clients. Named ``operations``, not ``operator`` (the stdlib)."""

"""What is measured in the child process, one pass per module: timing (`timing`), memory (`memory`),
compute (`compute`), fidelity (`fidelity`); `session` runs the passes in order and builds the rows."""

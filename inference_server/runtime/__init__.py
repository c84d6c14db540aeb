"""The one thread that owns MLX and what it runs: jobs and their events, sampling, stop
sequences. The pool loads models through it and generation submits work to it; neither
imports the other's internals to reach it."""

"""What is measured and how figures become rows: `timing` (one round, in the worker), `rounds` (paired rounds in
balanced order with sequential stopping, in the parent), `memory` (mprof timelines), `compute` (FLOPs, peaks),
`fidelity` (the gate), `ablation` (references, switch differences, where a switch shows), `rows` (the rows)."""

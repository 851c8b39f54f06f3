"""Training runs: config, the loop, checkpoint and resume, schedules, mixing, distillation, SWA, several devices, run records, promote."""

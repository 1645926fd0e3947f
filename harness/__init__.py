"""Run the pipeline on one machine: the emulator, the deployed stack, and what they show."""

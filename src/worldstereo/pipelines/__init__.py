"""The WorldStereo pipeline: inputs, generator backends, multi-trajectory generation, run directories."""

"""The one answer pipeline: retrieve, prompt, generate whole, mask, ground. Every route of the gateway, the
refresh gate and the answer benches call it; it imports no web framework and nothing of the gateway."""

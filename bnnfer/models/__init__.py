"""Networks and the methods that sample them: stochastic layers (`layers`), the CNN
(`networks`), BatchNorm folded for inference (`folding`), the MC sampling engine (`engine`), the
four methods (`methods`) and checkpoints on disk (`checkpoints`)."""

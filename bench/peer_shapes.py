"""The shape sets of bench/peers.py (DeepSeek-V3's GEMMs), apart from it so that tools without
torch (bench/peers_table.py) read the same sets the run was summarized by."""

WEIGHTS = [(2112, 7168), (24576, 1536), (32768, 512), (7168, 16384), (4096, 7168), (7168, 2048)]
LARGE = [(4096, 4096, 4096), (8192, 8192, 8192)] + [(4096, n, k) for n, k in WEIGHTS]
SMALL = [(m, n, k) for m in (128, 64) for n, k in WEIGHTS]
EXTRA = [(m, n, k) for m in (1, 16, 32, 256) for n, k in [(2112, 7168), (24576, 1536),
                                                         (7168, 16384), (4096, 7168)]]

import sys
from pathlib import Path

# kit_histories.py (history builders shared by these tests) sits beside this file.
sys.path.insert(0, str(Path(__file__).parent))

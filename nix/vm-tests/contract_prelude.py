import sys

sys.path.insert(0, "@contract@")
sys.path.insert(0, "@runner@/run")
SPEC = "@specPath@"
RUN = "@loadAndRun@/bin/load-and-run"
APPROACH = "@approach@"
ENGINE = "@engine@"

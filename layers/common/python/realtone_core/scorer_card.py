"""Where a running scorer announces its model card, so ``/health`` can show it."""

MODEL_CARD_KEY = "realtone:scorer:model"

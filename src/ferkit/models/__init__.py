from ferkit.models.registry import create_model, list_models, model_config
from ferkit.models.resnet_swish import ResNetSwish, ResNetSwishConfig

__all__ = ["ResNetSwish", "ResNetSwishConfig", "create_model", "list_models", "model_config"]

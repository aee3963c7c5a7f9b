from ferkit.models.registry import create_model, list_models, model_config
from ferkit.models.resnet_swish import ResNetSwish, ResNetSwishConfig, residual_scales_to_one

__all__ = ["ResNetSwish", "ResNetSwishConfig", "create_model", "list_models", "model_config", "residual_scales_to_one"]

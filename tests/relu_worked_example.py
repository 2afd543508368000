"""The lecture's worked example of the ReLU rules (Springenberg et al., fig. 1), shared by
test_attribution.py (the three rules) and test_targets.py (unit targets)."""
import torch
from torch import nn

# The lecture's worked example (Springenberg et al., fig. 1): forward input of a ReLU, gradient arriving from above.
RELU_IN = torch.tensor([[1., -1, 5], [2, -5, -7], [-3, 2, 4]])
GRAD_ABOVE = torch.tensor([[-2., 0, -1], [6, -3, 1], [2, -1, 3]])
EXPECTED = {
    "backprop": [[-2, 0, -1], [6, 0, 0], [0, -1, 3]],
    "deconvnet": [[0, 0, 0], [6, 0, 1], [2, 0, 3]],
    "guided": [[0, 0, 0], [6, 0, 0], [0, 0, 3]],
}


def relu_then_linear(relu: nn.Module) -> nn.Module:
    lin = nn.Linear(9, 1, bias=False)
    lin.weight.data = GRAD_ABOVE.reshape(1, 9)
    return nn.Sequential(nn.Identity(), relu, nn.Flatten(), lin)

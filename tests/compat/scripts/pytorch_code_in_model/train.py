"""The pattern of AWS's PyTorch example: training saves ``model.pth`` and copies its inference
code into the model under ``code/``, so the model serves with no source_dir at deploy time."""

import os
import shutil

import torch


class Net(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.linear = torch.nn.Linear(4, 1)

    def forward(self, x):
        return self.linear(x)


if __name__ == "__main__":
    torch.manual_seed(0)
    model = Net()
    x = torch.randn(64, 4)
    y = x.sum(dim=1, keepdim=True)
    optimiser = torch.optim.SGD(model.parameters(), lr=0.1)
    for _ in range(200):
        optimiser.zero_grad()
        loss = torch.nn.functional.mse_loss(model(x), y)
        loss.backward()
        optimiser.step()
    print(f"loss={loss.item():.5f}")
    model_dir = os.environ["SM_MODEL_DIR"]
    torch.save(model.state_dict(), os.path.join(model_dir, "model.pth"))
    code = os.path.join(model_dir, "code")
    os.makedirs(code, exist_ok=True)
    here = os.path.dirname(os.path.abspath(__file__))
    shutil.copy(os.path.join(here, "inference.py"), code)
    shutil.copy(os.path.abspath(__file__), os.path.join(code, "train.py"))

"""Test settings: offline, quick, untrained-allowed, an empty torch cache, no network but loopback."""
import ipaddress
import os
import socket
import tempfile

import pytest

# The plain helpers of the lecture claim files (tests/claims_helpers.py) assert too: rewrite them as tests.
pytest.register_assert_rewrite("claims_helpers")

# Set before any notebook kernel starts (kernels inherit this environment).
os.environ.setdefault("LECTURELIB_QUICK", "1")
os.environ.setdefault("LECTURELIB_ALLOW_UNTRAINED", "1")
os.environ.setdefault("MPLBACKEND", "Agg")
os.environ["TORCH_HOME"] = tempfile.mkdtemp(prefix="lecturelib-torch-home-")
# As ll.setup() does for a notebook: subnormal floats as 0 (a guard: subnormals can slow long
# optimizations; one quiet A/B on Lite0 here showed no difference)
import torch  # noqa: E402

torch.set_flush_denormal(True)
os.environ["LECTURELIB_CACHE"] = tempfile.mkdtemp(prefix="lecturelib-cache-")

_connect = socket.socket.connect


def _loopback_only(self, address):
    host = address[0] if isinstance(address, tuple) else address
    try:
        if isinstance(host, str) and not ipaddress.ip_address(host).is_loopback:
            raise OSError(f"tests may not use the network (tried {address})")
    except ValueError:
        if host not in ("localhost",):
            raise OSError(f"tests may not use the network (tried {address})")
    return _connect(self, address)


socket.socket.connect = _loopback_only


@pytest.fixture(scope="session")
def squeezenet():
    import lecturelib as ll
    return ll.load_model("squeezenet1_1", device="cpu")


@pytest.fixture(scope="session")
def shapes_model():
    import lecturelib as ll
    return ll.load_model("shapes", device="cpu")


@pytest.fixture(scope="session")
def digits_model():
    import lecturelib as ll
    return ll.load_model("digits", device="cpu")


# The course's ImageNet networks, loaded once: Lite0 (real weights), the same architecture with
# seeded random weights (the control every claim must fail on), and Lite2, the second opinion.
@pytest.fixture(scope="session")
def lite0():
    import lecturelib as ll
    return ll.load_model("efficientnet_lite0", device="cpu")


@pytest.fixture(scope="session")
def control():
    import lecturelib as ll
    return ll.load_model("efficientnet_lite0", device="cpu", pretrained=False)


@pytest.fixture(scope="session")
def judge():
    import lecturelib as ll
    return ll.load_model("efficientnet_lite2", device="cpu")


# Lectures 04, 04b and 05 take Lite0 and its control on the default device instead (their files
# override `lite0` and `control` with these), so that `make test-gpu` runs the attribution claims on CUDA.
@pytest.fixture(scope="session")
def lite0_on_default_device():
    import lecturelib as ll
    return ll.load_model("efficientnet_lite0")


@pytest.fixture(scope="session")
def control_on_default_device():
    import lecturelib as ll
    return ll.load_model("efficientnet_lite0", pretrained=False)


@pytest.fixture(scope="module")
def photos(lite0):
    """The 8 sample photos with drawn boxes: N×3×224×224 input, N×224×224 box masks, names.

    On the `lite0` of the file that asks (lectures 04, 04b and 05: the default device)."""
    import lecturelib as ll
    boxes = ll.sample_boxes()
    names = list(boxes)
    x = torch.cat([lite0.preprocess(n) for n in names])
    masks = torch.stack([lite0.box_mask(n) for n in names])
    return x, masks, names, boxes


# The lecture claims on the course models (`shapes`, `digits`): a test that takes `trained` runs on
# the trained model (id `trained`) and on an untrained copy of the same architecture
# (`untrained-control`), where its claim must fail (claims_helpers.check).
@pytest.fixture(scope="module", params=[True, False], ids=["trained", "untrained-control"])
def trained(request):
    return request.param

"""``Renormalize``: one branch's own input normalisation."""
import pytest
import torch

from mmyowo.models.utils import Renormalize

MEAN_IN, STD_IN = [123.675, 116.28, 103.53], [58.395, 57.12, 57.375]


@pytest.mark.parametrize('flip', [False, True])
def test_maps_one_normalisation_to_another(flip):
    g = torch.Generator().manual_seed(0)
    pixels = torch.rand(2, 3, 5, 7, generator=g) * 255  # RGB
    mean_in = torch.tensor(MEAN_IN).view(1, 3, 1, 1)
    std_in = torch.tensor(STD_IN).view(1, 3, 1, 1)
    mean, std = [10., 20., 30.], [2., 4., 8.]
    renorm = Renormalize(mean, std, MEAN_IN, STD_IN, flip_channels=flip)
    target = pixels.flip(1) if flip else pixels
    expected = (target - torch.tensor(mean).view(1, 3, 1, 1)) / \
        torch.tensor(std).view(1, 3, 1, 1)
    torch.testing.assert_close(renorm((pixels - mean_in) / std_in), expected)


def test_unnormalised_input_and_no_state_dict_entries():
    renorm = Renormalize([0., 0., 0.], [1., 1., 1.], flip_channels=True)
    frames = torch.arange(3.).view(1, 3, 1, 1)
    assert renorm(frames).flatten().tolist() == [2., 1., 0.]
    # Checkpoints of a model with and without it have the same keys.
    assert renorm.state_dict() == {}
    assert renorm.to(torch.float64).scale.dtype == torch.float64


def test_bad_arguments():
    with pytest.raises(ValueError, match='one value per channel'):
        Renormalize([0., 0.], [1., 1., 1.])
    with pytest.raises(ValueError, match='must be positive'):
        Renormalize([0., 0., 0.], [1., 0., 1.])

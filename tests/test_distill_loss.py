"""The distillation loss (core.distill.loss / maps): the interpretability term's gradient is
non-zero and matches finite differences (float64), KD is Hinton's T²·KL, terms switch off."""

import pytest
import torch
import torch.nn.functional as F

from core.distill.loss import LossConfig, distill_loss, interp_loss, kd_loss
from core.distill.maps import normalise, pearson, student_maps, teacher_maps
from core.distill.students import StudentNet


def _pair():
    torch.manual_seed(0)
    teacher = StudentNet(4, (6, 8, 10), 1).double().eval()
    student = StudentNet(4, (4, 6, 8), 1).double().train()
    x = torch.randn(3, 3, 32, 32, dtype=torch.float64)
    labels = torch.tensor([0, 2, 3])
    return teacher, student, x, labels


@pytest.mark.parametrize("method", ["gradcam_pp", "gradcam", "cam"])
def test_interp_gradient_is_nonzero_and_matches_finite_differences(method):
    teacher, student, x, labels = _pair()
    _, t_maps = teacher_maps(teacher, x, "features", method, labels)

    def loss():
        _, s_maps = student_maps(student, x, "features", method, labels, create_graph=True)
        return interp_loss(s_maps, t_maps)

    params = dict(student.named_parameters())
    grads = dict(zip(params, torch.autograd.grad(loss(), list(params.values()), allow_unused=True)))
    assert grads["fc.bias"] is None  # a bias shifts the score, not its gradient: no effect on the map
    # The first conv reaches the map through the activations, the final linear layer only through
    # the map's channel weights (∂y/∂A, kept differentiable by create_graph) — or CAM's weights.
    for name in ("features.0.0.weight", "fc.weight"):
        assert grads[name].abs().max() > 1e-6, name
    gen = torch.Generator().manual_seed(1)
    eps = 1e-6
    for name in ("features.0.0.weight", "features.2.0.weight", "features.4.0.weight", "features.4.1.weight",
                 "fc.weight"):
        p = params[name]
        for flat in torch.randint(0, p.numel(), (2,), generator=gen).tolist():
            old = p.view(-1)[flat].item()
            values = []
            for value in (old + eps, old - eps):
                with torch.no_grad():
                    p.view(-1)[flat] = value
                values.append(loss().item())
            with torch.no_grad():
                p.view(-1)[flat] = old
            up, down = values
            numeric = (up - down) / (2 * eps)
            assert numeric == pytest.approx(grads[name].view(-1)[flat].item(), rel=1e-4, abs=1e-8), (name, flat)


def test_teacher_maps_match_the_engine_single_image_maps():
    """The batched teacher maps equal core.methods' Grad-CAM++ of each image alone."""
    from core.capture import CaptureCache
    from core.methods import get_method
    from core.methods.registry import MethodContext
    from core.models.bundle import ModelBundle
    from core.targets import ClassTarget

    teacher, _, x, labels = _pair()
    bundle = ModelBundle(net=teacher.float())
    _, maps = teacher_maps(teacher, x.float(), "features", "gradcam_pp", labels)
    cache = CaptureCache()
    for i in range(len(x)):
        ctx = MethodContext(bundle=bundle, x=x[i:i + 1].float(), target=ClassTarget(int(labels[i])),
                            layer="features", cache=cache)
        out = get_method("gradcam_pp").fn(ctx, relu=True, alpha_norm=True)
        torch.testing.assert_close(maps[i], out.low_res, rtol=1e-4, atol=1e-6)


def test_kd_is_hinton_t_squared_kl():
    s, t = torch.randn(5, 6), torch.randn(5, 6)
    p_t = F.softmax(t / 3, 1)
    manual = 9 * (p_t * (p_t.log() - F.log_softmax(s / 3, 1))).sum(1).mean()
    assert kd_loss(s, t, 3.0).item() == pytest.approx(manual.item(), rel=1e-5)
    assert kd_loss(t, t, 3.0).item() == pytest.approx(0.0, abs=1e-6)


def test_interp_is_zero_for_the_same_map_at_another_resolution_and_bounded():
    m = torch.rand(2, 4, 4)
    assert interp_loss(m, m).item() == pytest.approx(0.0, abs=1e-9)
    up = F.interpolate(m[:, None], size=(8, 8), mode="bilinear", align_corners=False)[:, 0]
    assert interp_loss(m, up).item() == pytest.approx(0.0, abs=1e-9)  # upsampled to the common size
    assert 0 < interp_loss(torch.rand(2, 4, 4), torch.rand(2, 8, 8)).item() <= 2
    assert normalise(torch.zeros(1, 3, 3)).abs().sum() == 0
    assert pearson(m, 2 * m + 1).tolist() == pytest.approx([1.0, 1.0])


def test_terms_switch_off():
    teacher, student, x, labels = _pair()
    student.float()
    x = x.float()
    t_logits, t_maps = teacher_maps(teacher.float(), x, "features", "gradcam_pp", labels)
    cfg = LossConfig(losses=("ce",))
    assert not cfg.needs_teacher
    _, values, _ = distill_loss(student, x, labels, cfg, "features")
    assert set(values) == {"ce", "total"}
    cfg = LossConfig(losses=("ce", "kd", "interp"), beta=0.0)
    assert not cfg.uses("interp") and cfg.needs_teacher
    total, values, _ = distill_loss(student, x, labels, cfg, "features", t_logits, t_maps)
    assert set(values) == {"ce", "kd", "total"}
    cfg = LossConfig(losses=("interp",), beta=2.0, map_class="teacher")
    total, values, _ = distill_loss(student, x, labels, cfg, "features", t_logits, t_maps)
    assert set(values) == {"interp", "total"} and values["total"] == pytest.approx(2 * values["interp"])
    total.backward()
    assert student.features[0][0].weight.grad.abs().max() > 0
    with pytest.raises(ValueError):
        LossConfig(losses=("ce", "bogus"))

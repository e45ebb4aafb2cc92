"""LocalELBO against Pyro's own ELBOs, and its per-layer split."""

import pyro
import pyro.distributions as dist
import pytest
import torch
from pyro import poutine
from pyro.infer import Trace_ELBO, TraceMeanField_ELBO, config_enumerate
from pyro.infer.autoguide import AutoDiagonalNormal, AutoMultivariateNormal, AutoNormal

from pyro_local.infer import LocalELBO, NonFiniteLossError
from pyro_local.infer.local_elbo import check_finite, layer_losses_from_terms
from pyro_local.infer.site_terms import site_terms
from pyro_local.infer.traces import get_traces
from pyro_local.poutine import layer

DATA = torch.tensor([0.3, -1.2, 2.0, 0.7, 1.1, -0.4])


def params():
    return {
        "m": pyro.param("m", torch.tensor([0.2, -0.1])),
        "s": pyro.param("s", torch.tensor([0.8, 1.3]), constraint=dist.constraints.positive),
    }


def model_normal(data=DATA, subsample=None, mask=None):
    z = pyro.sample("z", dist.Normal(torch.zeros(2), 1.0).to_event(1))
    with pyro.plate("data", len(data), subsample_size=subsample) as idx:
        with poutine.mask(mask=True if mask is None else mask[idx]):
            pyro.sample("x", dist.Normal(z[0] + z[1], 1.0), obs=data[idx])


def guide_normal(data=DATA, subsample=None, mask=None):
    p = params()
    pyro.sample("z", dist.Normal(p["m"], p["s"]).to_event(1))


def model_student(data=DATA, **_):
    # No KL is registered between a Normal guide and a StudentT prior: Monte Carlo.
    z = pyro.sample("z", dist.StudentT(3.0, torch.zeros(2), 1.0).to_event(1))
    with pyro.plate("data", len(data)):
        pyro.sample("x", dist.Normal(z.sum(), 1.0), obs=data)


def _loss_and_grads(elbo, model, guide, seed=3, **kwargs):
    pyro.clear_param_store()
    pyro.set_rng_seed(seed)
    loss = elbo.differentiable_loss(model, guide, **kwargs)
    ps = [pyro.param("m").unconstrained(), pyro.param("s").unconstrained()]
    grads = torch.autograd.grad(loss, ps)
    return loss.detach(), grads


@pytest.mark.parametrize(
    "pyro_elbo,model,kwargs",
    [
        (TraceMeanField_ELBO(), model_normal, {}),
        (TraceMeanField_ELBO(), model_normal, {"subsample": 3}),
        (TraceMeanField_ELBO(), model_normal, {"mask": DATA > 0}),
        (TraceMeanField_ELBO(num_particles=4), model_normal, {}),
        (Trace_ELBO(), model_student, {}),
        (Trace_ELBO(num_particles=3), model_student, {}),
    ],
    ids=["kl", "kl-subsample", "kl-mask", "kl-particles", "mc", "mc-particles"],
)
def test_one_layer_matches_pyro(pyro_elbo, model, kwargs):
    ours = LocalELBO(num_particles=pyro_elbo.num_particles)
    expected = _loss_and_grads(pyro_elbo, model, guide_normal, **kwargs)
    actual = _loss_and_grads(ours, model, guide_normal, **kwargs)
    torch.testing.assert_close(actual[0], expected[0])
    for a, e in zip(actual[1], expected[1]):
        torch.testing.assert_close(a, e)


def test_score_function_matches_trace_elbo():
    # A non-reparameterized latent: the surrogate of Trace_ELBO, with the reward
    # restricted to the site's own layer (here: everything).
    def model():
        b = pyro.sample("b", dist.Bernoulli(0.3))
        with pyro.plate("data", len(DATA)):
            pyro.sample("x", dist.Normal(2.0 * b, 1.0), obs=DATA)

    def guide():
        p = pyro.param("p", torch.tensor(0.6), constraint=dist.constraints.unit_interval)
        pyro.sample("b", dist.Bernoulli(p))

    out = []
    for elbo in (Trace_ELBO(), LocalELBO()):
        pyro.clear_param_store()
        pyro.set_rng_seed(5)
        loss = elbo.differentiable_loss(model, guide)
        (g,) = torch.autograd.grad(loss, [pyro.param("p").unconstrained()])
        out.append((loss.detach(), g))
    torch.testing.assert_close(out[0][0], out[1][0])
    torch.testing.assert_close(out[0][1], out[1][1])


def layered_model():
    z1 = pyro.sample("z1", dist.Normal(0.0, 1.0))
    with layer("a"):
        za = pyro.sample("za", dist.Normal(z1.detach(), 2.0))
        pyro.sample("xa", dist.Normal(za, 1.0), obs=torch.tensor(0.5))
    with layer("b"):
        zb = pyro.sample("zb", dist.Normal(0.0, 1.0))
        with pyro.plate("d", 3):
            pyro.sample("xb", dist.Normal(zb, 1.0), obs=torch.tensor([1.0, 2.0, 3.0]))


def layered_guide():
    for name in ("z1", "za", "zb"):
        loc = pyro.param(f"{name}_loc", torch.tensor(0.1))
        pyro.sample(name, dist.Normal(loc, 0.9))


def test_layer_terms_sum_to_the_whole_elbo():
    pyro.set_rng_seed(1)
    losses = LocalELBO().layer_losses(layered_model, layered_guide)
    assert list(losses) == ["global", "a", "b"]
    pyro.set_rng_seed(1)
    whole = TraceMeanField_ELBO().differentiable_loss(layered_model, layered_guide)
    torch.testing.assert_close(sum(losses.values()), whole)
    # Layer "b" by hand: KL(N(0.1, 0.9) || N(0, 1)) - sum log N(x | zb, 1).
    pyro.set_rng_seed(1)
    tr = poutine.trace(layered_guide).get_trace()
    zb = tr.nodes["zb"]["value"]
    kl = torch.distributions.kl_divergence(dist.Normal(0.1, 0.9), dist.Normal(0.0, 1.0))
    nll = -dist.Normal(zb, 1.0).log_prob(torch.tensor([1.0, 2.0, 3.0])).sum()
    torch.testing.assert_close(losses["b"], kl + nll)


def test_guide_is_prior_sites_add_nothing():
    def model(flag):
        h = pyro.sample("h", dist.Normal(1.0, 0.5), infer={"guide_is_prior": True} if flag else {})
        pyro.sample("x", dist.Normal(h, 1.0), obs=torch.tensor(0.0))

    pyro.set_rng_seed(0)
    loss = LocalELBO().differentiable_loss(model, None, True)
    pyro.set_rng_seed(0)
    h = dist.Normal(1.0, 0.5).sample()
    torch.testing.assert_close(loss, -dist.Normal(h, 1.0).log_prob(torch.tensor(0.0)))
    with pytest.raises(ValueError, match="guide_is_prior"):
        LocalELBO().differentiable_loss(model, None, False)


def test_non_finite_loss_names_layer_and_site():
    def model():
        with layer("enc"):
            pyro.sample("ok", dist.Normal(0.0, 1.0), obs=torch.tensor(0.0))
        with layer("dec"):
            pyro.sample("bad", dist.Normal(0.0, 1.0, validate_args=False),
                        obs=torch.tensor(float("nan")))

    terms = LocalELBO().layer_terms(model, None)
    losses = {k: float(v) for k, v in layer_losses_from_terms(terms).items()}
    with pytest.raises(NonFiniteLossError, match="'dec'.*site 'bad' \\(observed"):
        check_finite(losses, terms)


def test_elbo_module_works_with_plain_torch_optim():
    pyro.set_rng_seed(0)
    guide_normal()  # create the params
    loss_fn = LocalELBO()(model_normal, guide_normal)
    opt = torch.optim.Adam([pyro.param("m").unconstrained()], lr=0.1)
    loss = loss_fn()
    loss.backward()
    opt.step()
    assert set(loss_fn.layer_losses()) == {"global"}


def test_invalid_num_particles():
    with pytest.raises(ValueError, match="num_particles"):
        LocalELBO(num_particles=0)


def _grads(elbo, model, guide, params, seed=3, *args):
    pyro.set_rng_seed(seed)
    loss = elbo.differentiable_loss(model, guide, *args)
    return loss.detach(), torch.autograd.grad(loss, params())


def scale_model(data=DATA):
    # A positive latent: AutoNormal samples it through exp and attaches the
    # log-Jacobian to its Delta site.
    s = pyro.sample("s", dist.LogNormal(0.0, 1.0))
    with pyro.plate("data", len(data)):
        pyro.sample("x", dist.Normal(0.0, s), obs=data)


@pytest.mark.parametrize("guide_cls", [AutoNormal, AutoDiagonalNormal, AutoMultivariateNormal])
def test_autoguide_sites_on_constrained_latents_score_their_jacobian(guide_cls):
    # KL(Delta || prior) = -log prior(value) would drop the Jacobian: the autoguide's
    # sites must be Monte Carlo, exactly Trace_ELBO's estimate.
    guide = guide_cls(scale_model)
    guide()

    def params():
        return list(guide.parameters())

    expected = _grads(Trace_ELBO(), scale_model, guide, params)
    actual = _grads(LocalELBO(), scale_model, guide, params)
    torch.testing.assert_close(actual[0], expected[0])
    for a, e in zip(actual[1], expected[1]):
        torch.testing.assert_close(a, e)


def test_closed_form_only_where_the_guide_samples_model_parents_first():
    # The guide draws z2 before z1, and z1 is z2's parent in the model: KL(q(z2) ||
    # p(z2 | z1)) at the sampled z1 would not be z2's term, so z2 is Monte Carlo
    # while z1 keeps its closed form.
    def model():
        z1 = pyro.sample("z1", dist.Normal(0.0, 1.0))
        z2 = pyro.sample("z2", dist.Normal(z1, 1.0))
        pyro.sample("x", dist.Normal(z2, 0.5), obs=torch.tensor(1.0))

    def guide():
        z2 = pyro.sample("z2", dist.Normal(pyro.param("m2", torch.tensor(0.3)), 0.7))
        pyro.sample("z1", dist.Normal(0.5 * z2, 0.8))

    pyro.set_rng_seed(0)
    model_trace, guide_trace = get_traces(model, guide, (), {})
    kinds = {t.site: t.kind for t in site_terms(model_trace, guide_trace)["global"]}
    assert kinds == {"z1": "kl", "z2": "monte_carlo", "x": "observed"}


def test_local_elbo_trains_inside_pyro_svi():
    paths = []
    for elbo in (TraceMeanField_ELBO(), LocalELBO()):
        pyro.clear_param_store()
        pyro.set_rng_seed(0)
        svi = pyro.infer.SVI(model_normal, guide_normal, pyro.optim.Adam({"lr": 0.05}), elbo)
        losses = [svi.step() for _ in range(10)]
        paths.append((losses, pyro.param("m").detach().clone()))
    assert paths[1][0] == pytest.approx(paths[0][0], rel=1e-6)
    torch.testing.assert_close(paths[1][1], paths[0][1])
    assert isinstance(LocalELBO(), pyro.infer.ELBO)


@pytest.mark.parametrize("pyro_elbo", [Trace_ELBO, TraceMeanField_ELBO])
def test_vectorized_particles_match_pyro(pyro_elbo):
    def model(data=DATA):
        z = pyro.sample("z", dist.Normal(torch.zeros(2), 1.0).to_event(1))
        with pyro.plate("data", len(data)):
            pyro.sample("x", dist.Normal(z[..., 0] + z[..., 1], 1.0), obs=data)

    kind = {"mean_field": pyro_elbo is TraceMeanField_ELBO}
    ours = LocalELBO(num_particles=5, vectorize_particles=True, closed_form_kl=kind["mean_field"])
    theirs = pyro_elbo(num_particles=5, vectorize_particles=True)
    pyro.clear_param_store()
    guide_normal()

    def params():
        return [pyro.param("m").unconstrained(), pyro.param("s").unconstrained()]

    expected = _grads(theirs, model, guide_normal, params)
    actual = _grads(ours, model, guide_normal, params)
    torch.testing.assert_close(actual[0], expected[0])
    for a, e in zip(actual[1], expected[1]):
        torch.testing.assert_close(a, e)
    assert ours.max_plate_nesting == 2  # guessed: the data plate and the particles


@pytest.mark.parametrize("validation", [True, False])
def test_enumerated_latents_are_refused_clearly(validation):
    @config_enumerate
    def model():
        c = pyro.sample("c", dist.Categorical(torch.tensor([0.3, 0.7])))
        pyro.sample("x", dist.Normal(torch.tensor([-1.0, 2.0])[c], 1.0), obs=torch.tensor(0.5))

    pyro.enable_validation(validation)
    with pytest.raises(ValueError, match="marked for enumeration.*TraceEnum_ELBO"):
        LocalELBO().loss(model, None)


@pytest.mark.parametrize("validation", [True, False])
def test_nan_in_the_data_names_layer_and_site(validation):
    # With validation on, Pyro stops the NaN at the first distribution it reaches with
    # a message naming neither layer nor site; the error names both either way.
    lin = torch.nn.Linear(2, 1)

    def model(x, y):
        with layer("dec"):
            with pyro.plate("data", len(y)):
                pyro.sample("y", dist.Normal(lin(x).squeeze(-1), 1.0), obs=y)

    x, y = torch.randn(4, 2), torch.randn(4)
    x[2, 0] = float("nan")
    pyro.enable_validation(validation)
    with pytest.raises(NonFiniteLossError, match="layer 'dec'.*site 'y' \\(observed"):
        LocalELBO().loss(model, None, x, y)
    # Nothing leaks into the random state: the diagnosis runs with it restored.
    pyro.set_rng_seed(0)
    with pytest.raises(NonFiniteLossError):
        LocalELBO().loss_and_grads(model, None, x, y)
    assert lin.weight.grad is None

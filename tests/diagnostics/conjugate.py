"""Conjugate models with closed-form posteriors, marginal likelihoods and LOO, for the
diagnostics tests.

Bayesian linear regression: w ~ N(0, I / alpha), y = X w + eps, eps ~ N(0, sigma^2 I).
The posterior of w is N(m, S) with S = (alpha I + X^T X / sigma^2)^-1 and
m = S X^T y / sigma^2; the marginal likelihood is y ~ N(0, sigma^2 I + X X^T / alpha).
"""

import numpy as np
import pyro
import pyro.distributions as dist
import scipy.stats
import torch


class LinearRegression:
    """Data, model, guides and exact answers of a small Bayesian linear regression."""

    def __init__(self, num_data=12, dim=2, alpha=1.0, sigma=0.8, seed=0, layer=None):
        rng = np.random.default_rng(seed)
        self.alpha, self.sigma, self.layer = alpha, sigma, layer
        self.X = rng.normal(size=(num_data, dim))
        self.y = self.X @ rng.normal(size=dim) + sigma * rng.normal(size=num_data)
        self.mean, self.cov = self.posterior(self.X, self.y)

    def posterior(self, X, y):
        precision = self.alpha * np.eye(X.shape[1]) + X.T @ X / self.sigma**2
        cov = np.linalg.inv(precision)
        return cov @ X.T @ y / self.sigma**2, cov

    def log_marginal(self):
        cov = self.sigma**2 * np.eye(len(self.y)) + self.X @ self.X.T / self.alpha
        return scipy.stats.multivariate_normal(np.zeros(len(self.y)), cov).logpdf(self.y)

    def exact_loo(self):
        """Brute force: the exact posterior without point i, then its predictive at i."""
        out = []
        for i in range(len(self.y)):
            keep = np.arange(len(self.y)) != i
            mean, cov = self.posterior(self.X[keep], self.y[keep])
            x = self.X[i]
            scale = np.sqrt(self.sigma**2 + x @ cov @ x)
            out.append(scipy.stats.norm(x @ mean, scale).logpdf(self.y[i]))
        return np.array(out)

    def tensors(self):
        return torch.tensor(self.X), torch.tensor(self.y)

    def model(self, X, y):
        dim = X.shape[-1]
        infer = {} if self.layer is None else {"layer": self.layer}
        w = pyro.sample(
            "w",
            dist.Normal(torch.zeros(dim, dtype=X.dtype), self.alpha**-0.5).to_event(1),
            infer=infer,
        )
        with pyro.plate("data", X.shape[0]):
            # (X * w).sum(-1) broadcasts over an outer plate of draws, as Pyro's
            # vectorized Predictive needs.
            pyro.sample("y", dist.Normal((X * w).sum(-1), self.sigma), obs=y)

    def guide(self, scale=1.0, shift=0.0):
        """Guide N(m + shift * sd, scale^2 S): exact for scale=1, shift=0."""
        mean = torch.tensor(self.mean) + shift * torch.tensor(np.sqrt(np.diag(self.cov)))
        tril = scale * torch.linalg.cholesky(torch.tensor(self.cov))

        def guide(X, y):
            pyro.sample("w", dist.MultivariateNormal(mean, scale_tril=tril))

        return guide


class NormalMeans:
    """Independent groups: mu_k ~ N(0, prior_scale^2), y_ki ~ N(mu_k, sigma^2), k < dim.

    Each group's posterior is N(m_k, s^2) with s^2 = 1 / (1 / prior_scale^2 + n / sigma^2).
    """

    def __init__(self, dim=10, num_data=5, prior_scale=2.0, sigma=1.0, seed=0):
        rng = np.random.default_rng(seed)
        self.prior_scale, self.sigma = prior_scale, sigma
        self.y = torch.tensor(rng.normal(1.0, sigma, size=(num_data, dim)))
        precision = 1 / prior_scale**2 + num_data / sigma**2
        self.post_scale = precision**-0.5
        self.post_mean = self.y.sum(0) / sigma**2 / precision

    def model(self, y, name="mu", layer=None):
        infer = {} if layer is None else {"layer": layer}
        with pyro.plate(f"{name}_groups", y.shape[-1]):
            mu = pyro.sample(name, dist.Normal(0.0, self.prior_scale), infer=infer)
            with pyro.plate(f"{name}_data", y.shape[0], dim=-2):
                pyro.sample(f"{name}_y", dist.Normal(mu, self.sigma), obs=y, infer=infer)

    def guide(self, y, scale=1.0, name="mu", layer=None):
        infer = {} if layer is None else {"layer": layer}
        with pyro.plate(f"{name}_groups", y.shape[-1]):
            pyro.sample(name, dist.Normal(self.post_mean, scale * self.post_scale), infer=infer)

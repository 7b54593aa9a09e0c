"""The Solver: trains a classification model with minibatch gradient descent.

Example:

    data = {"X_train": X_train, "y_train": y_train, "X_val": X_val, "y_val": y_val}
    model = TwoLayerNet(hidden_dim=100, reg=1e-3)
    solver = Solver(model, data,
                    update_rule="sgd_momentum",
                    optim_config={"learning_rate": 1e-3},
                    lr_decay=0.95,
                    num_epochs=10, batch_size=100,
                    print_every=100)
    solver.train()
    # model.params now holds the parameters with the best validation accuracy;
    # solver.loss_history, solver.train_acc_history and solver.val_acc_history
    # hold the training curves.

The Solver works with any model object that has:
- model.params: Dictionary mapping parameter names to numpy arrays.
- model.loss(X, y=None): with X of shape (N, d_1, ..., d_k)
  - if y is None (test time), returns scores of shape (N, C), where scores[i, c] is
    the score of class c for X[i];
  - if y of shape (N,) is given (training time), returns a tuple (loss, grads):
    the scalar loss and a dictionary with the same keys as model.params mapping each
    name to the gradient of the loss with respect to that parameter.
"""
import copy
import inspect
import os
import pickle
import tempfile

import numpy as np
from tqdm.auto import tqdm

from . import optim

DATA_KEYS = ("X_train", "y_train", "X_val", "y_val")


class Solver:
    """Trains a model on data["X_train"] and keeps the parameters that do best on
    data["X_val"].

    After train():
    - model.params holds the best parameters found (by validation accuracy).
    - loss_history: List of the minibatch losses, one per iteration.
    - train_acc_history, val_acc_history: Lists of accuracies measured before
      training and after every epoch (num_epochs + 1 entries).
    - best_val_acc: The best validation accuracy; best_params: a copy of the
      parameters that reached it.
    """

    def __init__(
        self,
        model,
        data,
        *,
        update_rule="sgd",
        optim_config=None,
        lr_decay=1.0,
        batch_size=100,
        num_epochs=10,
        num_train_samples=1000,
        num_val_samples=None,
        checkpoint_name=None,
        print_every=10,
        verbose=True,
        **unknown_options,
    ):
        """
        Inputs:
        - model: A model with params and loss(X, y=None) (see the module docstring).
        - data: Dictionary with
          - "X_train": Array of shape (N_train, d_1, ..., d_k), training inputs.
          - "y_train": Array of shape (N_train,), training labels.
          - "X_val": Array of shape (N_val, d_1, ..., d_k), validation inputs.
          - "y_val": Array of shape (N_val,), validation labels.

        Options (keyword only):
        - update_rule: Name of an update rule in nnkit/optim.py ("sgd",
          "sgd_momentum", "adam", ...) or a function rule(w, dw, config) ->
          (next_w, config). Default "sgd".
        - optim_config: Dictionary of hyperparameters for the update rule, such as
          {"learning_rate": 1e-3}. Every parameter gets its own copy, because the
          rule keeps per-parameter state in it. Default: the rule's defaults.
        - lr_decay: After each epoch, every learning rate is multiplied by this.
          Default 1.0 (no decay).
        - batch_size: Number of training examples per minibatch. Default 100.
        - num_epochs: Number of epochs train() runs. Default 10.
        - num_train_samples: Number of training examples the training accuracy is
          measured on (a random subset, to save time); None uses all. Default 1000.
        - num_val_samples: Same for the validation accuracy. Default None (all).
        - checkpoint_name: If given, after every epoch the Solver pickles a
          checkpoint to f"{checkpoint_name}_epoch_{epoch}.pkl". Default None.
        - print_every: Print the loss every this many iterations. Default 10.
        - verbose: If True, show a progress bar and print the loss and the
          accuracies; if False, print nothing. Default True.
        """
        if unknown_options:
            accepted = [
                parameter.name
                for parameter in inspect.signature(Solver).parameters.values()
                if parameter.kind is inspect.Parameter.KEYWORD_ONLY
            ]
            raise TypeError(
                f"Solver: unknown option(s) {', '.join(map(repr, unknown_options))}; "
                f"the accepted options are {', '.join(accepted)}. Hyperparameters of "
                "the update rule (learning_rate, momentum, ...) go in optim_config."
            )
        missing = [key for key in DATA_KEYS if key not in data]
        if missing:
            raise ValueError(
                f"Solver: data is missing {', '.join(missing)}; it needs the keys "
                f"{', '.join(DATA_KEYS)}."
            )

        self.model = model
        self.X_train, self.y_train = data["X_train"], data["y_train"]
        self.X_val, self.y_val = data["X_val"], data["y_val"]

        self.update_rule = _resolve_update_rule(update_rule)
        self.optim_config = {} if optim_config is None else optim_config
        self.lr_decay = lr_decay
        self.batch_size = batch_size
        self.num_epochs = num_epochs
        self.num_train_samples = num_train_samples
        self.num_val_samples = num_val_samples
        self.checkpoint_name = checkpoint_name
        self.print_every = print_every
        self.verbose = verbose

        self._reset()

    def _reset(self):
        """Forget all training progress: histories, best parameters and the state of
        the update rule. (The model's current parameters are left as they are.)"""
        self.epoch = 0
        self.best_val_acc = 0.0
        self.best_params = {}
        self.loss_history = []
        self.train_acc_history = []
        self.val_acc_history = []
        # One config per parameter: the update rule stores per-parameter state
        # (velocity, moving averages) in it.
        self.optim_configs = {
            name: copy.deepcopy(self.optim_config) for name in self.model.params
        }

    def _step(self):
        """Do one update: sample a minibatch, compute loss and gradients, and apply
        the update rule to every parameter. Appends the loss to loss_history."""
        num_train = self.X_train.shape[0]
        # Sampling with replacement keeps each step cheap; an "epoch" is therefore
        # num_train / batch_size steps, not an exact pass over the data.
        batch = np.random.choice(num_train, self.batch_size)
        loss, grads = self.model.loss(self.X_train[batch], self.y_train[batch])
        self.loss_history.append(float(loss))

        missing = [name for name in self.model.params if name not in grads]
        if missing:
            raise KeyError(
                f"Solver: model.loss(X, y) returned no gradient for {', '.join(missing)}; "
                "grads needs one entry per key of model.params."
            )
        for name, w in list(self.model.params.items()):
            next_w, self.optim_configs[name] = self.update_rule(
                w, grads[name], self.optim_configs[name]
            )
            self.model.params[name] = next_w

    def check_accuracy(self, X, y, num_samples=None, batch_size=100):
        """Fraction of the examples in X that the model classifies correctly.

        Inputs:
        - X: Array of shape (N, d_1, ..., d_k).
        - y: Array of shape (N,) of integer labels.
        - num_samples: If given and smaller than N, measure on a random subset of
          this many examples (drawn without replacement).
        - batch_size: Predict this many examples at a time, to bound memory use.

        Returns:
        - acc: Scalar, the fraction of correctly classified examples.
        """
        N = X.shape[0]
        if num_samples is not None and num_samples < N:
            subset = np.random.choice(N, num_samples, replace=False)
            X, y, N = X[subset], y[subset], num_samples

        y_pred = np.concatenate(
            [
                np.argmax(self.model.loss(X[start : start + batch_size]), axis=1)
                for start in range(0, N, batch_size)
            ]
        )
        return float(np.mean(y_pred == y))

    def train(self):
        """Run num_epochs epochs of optimization, then load the best parameters
        (highest validation accuracy) into the model."""
        num_train = self.X_train.shape[0]
        iterations_per_epoch = max(num_train // self.batch_size, 1)
        num_iterations = self.num_epochs * iterations_per_epoch
        last_epoch = self.epoch + self.num_epochs

        if not self.val_acc_history:
            self._record_accuracy(last_epoch)  # the starting point, before any update

        with tqdm(total=num_iterations, disable=not self.verbose, unit="it") as progress:
            for t in range(num_iterations):
                self._step()
                progress.update(1)
                if t % self.print_every == 0:
                    self._log(
                        f"(Iteration {t + 1} / {num_iterations}) "
                        f"loss: {self.loss_history[-1]:f}"
                    )

                if (t + 1) % iterations_per_epoch == 0:
                    self.epoch += 1
                    self._decay_learning_rate()
                    self._record_accuracy(last_epoch)
                    if self.checkpoint_name is not None:
                        self._save_checkpoint()

        # Copies, so that further training of the model cannot change best_params.
        for name, value in self.best_params.items():
            self.model.params[name] = value.copy()

    def _record_accuracy(self, last_epoch):
        """Measure train and validation accuracy, append them to the histories and
        keep a copy of the parameters if they are the best so far."""
        train_acc = self.check_accuracy(
            self.X_train, self.y_train, num_samples=self.num_train_samples
        )
        val_acc = self.check_accuracy(
            self.X_val, self.y_val, num_samples=self.num_val_samples
        )
        self.train_acc_history.append(train_acc)
        self.val_acc_history.append(val_acc)
        self._log(
            f"(Epoch {self.epoch} / {last_epoch}) "
            f"train acc: {train_acc:f}; val_acc: {val_acc:f}"
        )

        if val_acc > self.best_val_acc or not self.best_params:
            self.best_val_acc = val_acc
            self.best_params = {
                name: value.copy() for name, value in self.model.params.items()
            }

    def _decay_learning_rate(self):
        """Multiply the learning rate of every parameter's config by lr_decay."""
        if self.lr_decay == 1.0:
            return
        for name, config in self.optim_configs.items():
            if "learning_rate" not in config:
                raise KeyError(
                    f"Solver: lr_decay needs a 'learning_rate' in the optim config of "
                    f"{name!r}, but the update rule did not set one; put "
                    "'learning_rate' in optim_config."
                )
            config["learning_rate"] *= self.lr_decay

    def _save_checkpoint(self):
        """Pickle the model and the training state to
        f"{checkpoint_name}_epoch_{epoch}.pkl".

        The pickle is written to a temporary file in the same folder and then renamed,
        so an interrupted run never leaves a truncated checkpoint behind.
        """
        checkpoint = {
            "model": self.model,
            "update_rule": getattr(self.update_rule, "__name__", repr(self.update_rule)),
            "lr_decay": self.lr_decay,
            "optim_config": self.optim_config,
            "batch_size": self.batch_size,
            "num_train_samples": self.num_train_samples,
            "num_val_samples": self.num_val_samples,
            "epoch": self.epoch,
            "loss_history": self.loss_history,
            "train_acc_history": self.train_acc_history,
            "val_acc_history": self.val_acc_history,
        }
        path = f"{self.checkpoint_name}_epoch_{self.epoch}.pkl"
        folder = os.path.dirname(os.path.abspath(path))
        file_descriptor, temp_path = tempfile.mkstemp(
            dir=folder, prefix=os.path.basename(path) + ".", suffix=".tmp"
        )
        try:
            with os.fdopen(file_descriptor, "wb") as f:
                pickle.dump(checkpoint, f)
            os.replace(temp_path, path)
        except BaseException:
            os.unlink(temp_path)
            raise
        self._log(f"Saved checkpoint {path}")

    def _log(self, message):
        """Print a line without breaking the progress bar; silent unless verbose."""
        if self.verbose:
            tqdm.write(message)


def _resolve_update_rule(update_rule):
    """Turn update_rule (a function, or the name of one in nnkit/optim.py) into a
    function."""
    if callable(update_rule):
        return update_rule
    available = {
        name: function
        for name, function in inspect.getmembers(optim, inspect.isfunction)
        if function.__module__ == optim.__name__ and not name.startswith("_")
    }
    if update_rule not in available:
        raise ValueError(
            f"Solver: unknown update_rule {update_rule!r}; nnkit/optim.py defines "
            f"{', '.join(sorted(available))}. You can also pass a function "
            "rule(w, dw, config) -> (next_w, config)."
        )
    return available[update_rule]

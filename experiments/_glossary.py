"""The report's glossary: one line per term a reader may stumble on. ``results/REPORT.md`` ends with
it and links each term's first use in the report to its line."""

from __future__ import annotations

import re

# term -> definition; a term is matched as a whole word, case-sensitively, in the report's text
TERMS = {
    "seed": "one training run's random numbers (initial weights, minibatch order, dropout masks); "
    "results are given over several seeds to show their spread.",
    "epoch": "one pass over the training set.",
    "minibatch": "the few examples one gradient step is computed from.",
    "gradient step": "one update θ := θ − α ∂J/∂θ (or an optimizer's update); budgets are "
    "counted in them.",
    "validation split": "training examples held out from training and used to choose "
    "(learning rates, the best epoch); the test set is never used to choose anything.",
    "plateau rule": "the test of convergence: a run has levelled off when no later epoch "
    "improves its best training loss by more than a stated tolerance, and converged when it "
    "stayed level for the last part of its budget (each section states the numbers).",
    "compute-matched": "arms that compete are given the same number of gradient steps, "
    "pre-training included.",
    "95% interval": "over seeds: the mean ± Student's t quantile × sd/√n, which covers the "
    "true mean in 95% of repetitions when seeds are independent.",
    "paired difference": "the difference of two arms computed seed by seed (both arms start "
    "from the same initial weights and minibatch order), then averaged; its interval removes "
    "the variation the arms share.",
    "Wilson interval": "a 95% interval for a fraction of successes (Wilson 1927), honest for "
    "fractions near 0 or 1 and for few trials.",
    "chance": "the accuracy of guessing: 10% for ten balanced classes.",
    "half_sse": "half the sum of squared errors, ½ Σ (t − y)², the loss of the lecture's "
    "perceptron and XOR networks.",
    "MSE": "mean squared error, (1/n) Σ (t − y)².",
    "softmax cross-entropy": "the classification loss −log softmax(z)_t of the logits z and "
    "the true class t.",
    "Xavier": "Xavier (Glorot) initialisation: weights drawn with variance 1/n_in, which keeps "
    "a tanh or sigmoid layer's outputs at the scale of its inputs (Glorot and Bengio 2010).",
    "He": "He initialisation: weights drawn with variance 2/n_in, which keeps a ReLU layer's "
    "outputs at the scale of its inputs (He et al. 2015).",
    "inverted dropout": "dropout that zeroes each unit with probability p during training and "
    "divides the survivors by 1 − p, so that the network is used unchanged at test time.",
    "geometric mean": "the exponential of the mean logarithm: the typical size of numbers that "
    "span orders of magnitude.",
    "scaled |Δ|": "the gradient-check error against central differences: |hand − central| "
    "divided by the loss's own size, max(1, |L|).",
    "seed-steps/s": "training steps done per second summed over all seeds trained at once: "
    "the speed of a sweep.",
    "fraction of peak": "a method's arithmetic per second over the CPU's peak (cores × vector "
    "lanes × 2 fused multiply-add units × clock).",
    "pass": "one sweep over all training examples (an epoch): n/B gradient steps for batch size B.",
    "full-batch gradient descent": "every step uses the gradient over the whole training set: "
    "one step per pass.",
    "one at a time": "batch size 1: one step per training example.",
    "plain SGD": "the update θ := θ − α g with no momentum and no adaptive step sizes.",
    "learning rate": "α, the step-size factor of an update.",
    "tuning seeds": "seeds used only to choose an arm's learning rate, apart from the seeds the "
    "verdict is judged on.",
    "time to target": "passes until the validation loss first reaches the target, times the "
    "arm's measured seconds per pass (compiling excluded).",
    "paired log ratio": "the per-seed log of one arm's time over another's, for seeds that "
    "share their initial weights; its mean is the log of the geometric mean ratio.",
    "geometric sd": "exp of the standard deviation of the logs: a spread by which to multiply "
    "and divide a geometric mean.",
    "data seed": "one random draw of the noisy-insect data set; every learning rate runs on the "
    "same data seeds.",
    "var(A)": "the variance of the slope A over a run's last updates: how much the last examples "
    "move the line.",
    "perceptron convergence theorem": "on data that some line separates with margin γ, the "
    "perceptron rule makes finitely many mistakes, at most (R/γ)² from zero weights (Novikoff "
    "1962).",
    "margin": "the largest, over lines through the augmented inputs (1, x1, x2) with unit weight "
    "vector, of the smallest signed distance of a gate's four points from the line; 0 when no "
    "line separates them.",
    "Novikoff bound": "the most mistakes the perceptron rule can make from a given start, from "
    "the convergence theorem's two inequalities.",
    "init ±ρ": "weights and biases drawn uniform in [−ρ, ρ]: an initial range, not an error bar.",
    "still rising": "a solved fraction that has not levelled off under the plateau rule (applied "
    "to the fraction of seeds not yet solved): a longer budget would solve more.",
    "median's 95% interval": "the order statistics x_(j) and x_(n−j+1), j the 2.5% quantile of "
    "Binomial(n, ½), which hold the true median with probability at least 95%.",
    "momentum": "SGD whose step is an exponentially decaying sum of past gradients (here with "
    "coefficient 0.9).",
    "AdaGrad": "divides each weight's step by the square root of that weight's summed squared "
    "gradients, so steps shrink over time (Duchi et al. 2011).",
    "RMSProp": "like AdaGrad with a decaying average of squared gradients (Tieleman and Hinton "
    "2012).",
    "Adam": "momentum's average of gradients divided by the square root of RMSProp's average of "
    "squared gradients, both corrected for their start at zero (Kingma and Ba 2015).",
    "nats": "units of a cross-entropy computed with natural logarithms.",
    "speed-up over SGD": "SGD's steps to the target loss divided by a rule's, on the same seed.",
    "grid edge": "a tuned value at the smallest or largest value of its grid, where the best "
    "value may lie outside it.",
    "evaluation seeds": "the seeds a verdict is judged on, apart from the tuning seeds.",
    "best validation epoch": "the epoch of highest validation accuracy; test accuracy is read "
    "there.",
    "MNIST-1D": "a small synthetic benchmark of 1-D signals of length 40 in 10 classes, built to "
    "be hard for simple models (Greydanus 2020).",
    "dropout rate": "p, the probability that a hidden unit is set to zero at a training step; "
    "p = 0 is the plain network (Srivastava et al. 2014 write p for keeping a unit).",
    "train − test gap": "train accuracy minus test accuracy: the over-fitting gap.",
    "validation-chosen epoch": "the epoch of a run with the highest validation accuracy (early "
    "stopping); the network from that epoch is the one measured.",
    "cosine decay": "a learning rate that falls from its peak α to 0 as α(1 + cos(πt/T))/2 over "
    "the T steps of the budget (Loshchilov and Hutter 2017).",
    "gradient ratio": "r = ‖∂L/∂W^(1)‖ / ‖∂L/∂W^(10)‖ at initialisation: the first hidden "
    "layer's weight-gradient norm over the last one's, with L the mean loss over a batch (or, "
    "where labelled, per single example).",
    "per-layer factor": "r^(1/9): the average factor by which the weight gradient changes per "
    "layer between hidden layer 10 and hidden layer 1.",
    "N(0, 0.01²)": "weights drawn from a normal distribution with standard deviation 0.01, "
    "biases 0: the small random initialisation of early deep networks.",
    "init seed": "one draw of initial weights (and its batch of examples), measured before any "
    "training.",
    "factorial": "a design that crosses every level of one factor with every level of another; "
    "each combination is a cell.",
    "main effect": "the difference between two levels of one factor, averaged over the levels of "
    "the other factor, seed by seed.",
    "saturated": "a sigmoid unit with output below 0.1 or above 0.9, or a tanh unit with |a| > "
    "0.9, where the derivative is near 0.",
    "inactive (zero)": "a ReLU unit whose output is 0 for an example; it passes no gradient.",
    "diverged": "a run whose training loss became NaN or infinite.",
    "hardly trains": "test accuracy at the validation-chosen epoch whose 95% interval lies below "
    "chance + 0.1.",
    "autoencoder": "a one-hidden-layer network trained to reproduce its own input; its encoder "
    "becomes one layer of the deep network.",
    "greedy layer-wise pre-training": "training one autoencoder per hidden layer in turn, each on "
    "the codes of the layer below, without labels (Bengio et al. 2007).",
    "fine-tuning": "supervised training of the whole network on the labels, starting from the "
    "pre-trained weights.",
    "checkpoint": "the network as it is after every few epochs, where accuracies are measured.",
    "reconstruction error fraction": "an autoencoder's error over its inputs' total variance; 1 "
    "means no better than predicting the mean.",
    "ulp": "unit in the last place: the gap between a floating-point number and the next one.",
}


def slug(term: str) -> str:
    """The anchor of ``term``'s line in the glossary."""
    return "glossary-" + re.sub(r"[^a-z0-9]+", "-", term.lower()).strip("-")


def section(terms=None) -> list[str]:
    """The glossary as Markdown lines: one anchored line per term, alphabetically."""
    terms = TERMS if terms is None else terms
    lines = ['<a id="glossary"></a>', "", "## Glossary", ""]
    for term in sorted(terms, key=str.lower):
        lines += [f'<a id="{slug(term)}"></a>**{term}**: {terms[term]}', ""]
    return lines


def _pattern(term: str) -> re.Pattern:
    return re.compile(rf"(?<![\w\[/#-]){re.escape(term)}(?![\w\]-])")


def link_first_uses(lines: list[str], terms=None) -> list[str]:
    """``lines`` with the first use of each glossary term linked to its glossary line. Headings,
    anchors, images and text inside backticks or links are left alone."""
    terms = TERMS if terms is None else terms
    todo = set(terms)
    out = []
    for line in lines:
        if not todo or line.startswith(("#", "<a id", "![")):
            out.append(line)
            continue
        pieces = re.split(r"(`[^`]*`|\[[^\]]*\]\([^)]*\))", line)
        for i in range(0, len(pieces), 2):  # the even pieces lie outside code and links
            for term in sorted(todo, key=len, reverse=True):
                m = _pattern(term).search(pieces[i])
                if m:
                    a, b = m.span()
                    pieces[i] = f"{pieces[i][:a]}[{pieces[i][a:b]}](#{slug(term)}){pieces[i][b:]}"
                    todo.discard(term)
        out.append("".join(pieces))
    return out

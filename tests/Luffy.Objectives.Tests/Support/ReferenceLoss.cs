namespace Luffy.Objectives.Tests.Support;

/// <summary>
/// An independent double-precision computation of the mixed-policy loss, its gradients and its metrics, written from
/// docs/objectives.md with plain loops and hand-derived derivatives (no TorchSharp). Every objective, ratio,
/// shaping, clamp and extra of <see cref="PolicyLossOptions"/> is covered.
/// </summary>
internal static class ReferenceLoss
{
    public sealed record Result(double Loss, double[,] GradLogProbs, double[,] GradEntropy, IReadOnlyDictionary<string, double> Metrics)
    {
        public double Metric(string name) => Metrics[name];
    }

    /// <summary>The token terms of the on-policy objective for one row: values, their Jacobian with respect to the row's log-probs, and clip indicators.</summary>
    private sealed record RowTerms(double[] Values, double[,] Jacobian, bool[] Clipped, bool[] Lower);

    public static Result Compute(MixedBatch batch, PolicyLossOptions o, Extras extras, LossNormalizers? normalizers = null)
    {
        int b = batch.B, t = batch.T;
        bool withReference = extras.HasFlag(Extras.Reference), withEntropy = extras.HasFlag(Extras.Entropy);
        bool withQ = extras.HasFlag(Extras.TraceProbabilities), withWeights = extras.HasFlag(Extras.RolloutWeights), withStored = extras.HasFlag(Extras.TraceLogProbs);
        var trace = new bool[b, t];
        var traceRow = new bool[b];
        var policy = new bool[b, t];
        var on = new bool[b, t];
        var off = new bool[b, t];
        var kept = new bool[b, t];
        var allMaxClipped = new bool[b, t];
        for (int i = 0; i < b; i++)
        {
            for (int j = 0; j < t; j++)
            {
                trace[i, j] = batch.Mask[i, j] && batch.OffPolicy[i, j];
                traceRow[i] |= trace[i, j];
            }
        }
        for (int i = 0; i < b; i++)
        {
            bool policyRow = o.TraceSequencesInPolicyLoss || !traceRow[i];
            for (int j = 0; j < t; j++)
            {
                policy[i, j] = batch.Mask[i, j] && policyRow;
                off[i, j] = policy[i, j] && trace[i, j];
                on[i, j] = policy[i, j] && !off[i, j];
                allMaxClipped[i, j] = policy[i, j] && o.AllMaxClip is { } bound && batch.LogProbs[i, j] > Math.Log(bound);
                kept[i, j] = policy[i, j] && !allMaxClipped[i, j];
            }
        }

        double[,] policyWeight = AggregationWeights(kept, o.Aggregation, normalizers?.Policy, o.AggregationConstant);
        double[,] regularizerWeight = AggregationWeights(batch.Mask, o.Aggregation, normalizers?.Regularizer, o.AggregationConstant);
        var gradLogp = new double[b, t];
        var gradEntropy = new double[b, t];
        double loss = 0, policyLoss = 0;
        double onSum = 0, offSum = 0, clipped = 0, lower = 0, ppoKl = 0, offP = 0, onP = 0, ratioSum = 0, maxClamped = 0, minClamped = 0;
        int onCount = 0, offCount = 0, scopeCount = 0, policyCount = 0, allMaxCount = 0;

        for (int i = 0; i < b; i++)
        {
            RowTerms row = OnPolicyRow(batch, i, on, o.OnPolicy, withWeights);
            for (int j = 0; j < t; j++)
            {
                if (!policy[i, j])
                {
                    continue;
                }
                policyCount++;
                allMaxCount += allMaxClipped[i, j] ? 1 : 0;
                double lp = batch.LogProbs[i, j], a = batch.Advantages[i, j], w = withWeights ? batch.RolloutWeights[i, j] : 1;
                bool inScope = on[i, j] || o.MetricScope == MetricScope.AllResponseTokens;
                if (inScope)
                {
                    scopeCount++;
                    clipped += row.Clipped[j] ? 1 : 0;
                    lower += row.Lower[j] ? 1 : 0;
                    ppoKl += batch.OldLogProbs[i, j] - lp;
                }
                if (off[i, j])
                {
                    // with stored behaviour log-probs (ExGRPO) f takes w = p/π_past, i.e. log w = lp − stored (d/dlp = d/dlog w),
                    // except a log term, which keeps lp as in the reference's "logp"/"p_logp" reshapes
                    (double f, double df) = withQ ? QRatio(lp, batch.TraceProbabilities[i, j]) : Shape(o.Shaping, withStored ? lp - batch.TraceLogProbs[i, j] : lp);
                    if (withStored && !withQ)
                    {
                        f += LogTermWeight(o.Shaping) * batch.TraceLogProbs[i, j];
                    }
                    offP += Math.Exp(lp);
                    if (o.OffPolicyMaxClamp is { } max)
                    {
                        if (f > max)
                        {
                            f = max;
                            df = 0;
                        }
                        maxClamped += f == max ? 1 : 0;
                    }
                    if (o.OffPolicyMinClamp is { } min)
                    {
                        if (f < min)
                        {
                            f = min;
                            df = 0;
                        }
                        minClamped += f == min ? 1 : 0;
                    }
                    ratioSum += f;
                    double value = -a * f * w;
                    offSum += value;
                    offCount++;
                    if (kept[i, j])
                    {
                        policyLoss += policyWeight[i, j] * value;
                        gradLogp[i, j] += policyWeight[i, j] * -a * df * w;
                    }
                }
                else
                {
                    onP += Math.Exp(batch.OldLogProbs[i, j]);
                    onSum += row.Values[j];
                    onCount++;
                    if (kept[i, j])
                    {
                        policyLoss += policyWeight[i, j] * row.Values[j];
                        for (int k = 0; k < t; k++)
                        {
                            gradLogp[i, k] += policyWeight[i, j] * row.Jacobian[j, k];
                        }
                    }
                }
            }
        }
        loss += policyLoss;

        double sftSum = 0;
        int sftCount = 0;
        if (o.SftCoefficient > 0)
        {
            for (int i = 0; i < b; i++)
            {
                for (int j = 0; j < t; j++)
                {
                    if (batch.Mask[i, j] && traceRow[i])
                    {
                        sftSum -= batch.LogProbs[i, j];
                        sftCount++;
                    }
                }
            }
            double n = normalizers?.Sft ?? Math.Max(sftCount, 1);
            loss += o.SftCoefficient * sftSum / n;
            for (int i = 0; i < b; i++)
            {
                for (int j = 0; j < t; j++)
                {
                    gradLogp[i, j] -= batch.Mask[i, j] && traceRow[i] ? o.SftCoefficient / n : 0;
                }
            }
        }

        double entropySum = 0, klSum = 0;
        int responseCount = 0;
        for (int i = 0; i < b; i++)
        {
            for (int j = 0; j < t; j++)
            {
                if (!batch.Mask[i, j])
                {
                    continue;
                }
                responseCount++;
                double w = regularizerWeight[i, j];
                if (withEntropy)
                {
                    entropySum += batch.Entropy[i, j];
                    loss -= o.EntropyCoefficient * w * batch.Entropy[i, j];
                    gradEntropy[i, j] = -o.EntropyCoefficient * w;
                }
                if (withReference)
                {
                    (double kl, double dkl) = Kl(batch.LogProbs[i, j], batch.ReferenceLogProbs[i, j], o.KlEstimator);
                    klSum += kl;
                    loss += o.KlCoefficient * w * kl;
                    gradLogp[i, j] += o.KlCoefficient * w * dkl;
                }
            }
        }

        double Mean(double sum, int count) => count == 0 ? 0 : sum / count;
        var metrics = new Dictionary<string, double>
        {
            ["loss"] = loss,
            ["pg_loss"] = policyLoss,
            ["on_pg_loss"] = Mean(onSum, onCount),
            ["off_pg_loss"] = Mean(offSum, offCount),
            ["pg_clipfrac"] = Mean(clipped, scopeCount),
            ["pg_clipfrac_lower"] = Mean(lower, scopeCount),
            ["ppo_kl"] = Mean(ppoKl, scopeCount),
            ["off_policy_prob"] = Mean(offP, offCount),
            ["on_policy_prob"] = Mean(onP, onCount),
            ["off_ratio_mean"] = Mean(ratioSum, offCount),
            ["off_ratio_max_clip_frac"] = Mean(maxClamped, offCount),
            ["off_ratio_min_clip_frac"] = Mean(minClamped, offCount),
            ["all_max_clip_frac"] = Mean(allMaxCount, policyCount),
            ["sft_loss"] = Mean(sftSum, sftCount),
            ["entropy"] = withEntropy ? Mean(entropySum, responseCount) : 0,
            ["kl"] = withReference ? Mean(klSum, responseCount) : 0,
            ["on_tokens"] = onCount,
            ["off_tokens"] = offCount,
            ["response_tokens"] = responseCount,
        };
        return new Result(loss, gradLogp, gradEntropy, metrics);
    }

    /// <summary>The on-policy objective's terms for every token of row <paramref name="i"/> (metrics need them on trace tokens too).</summary>
    private static RowTerms OnPolicyRow(MixedBatch batch, int i, bool[,] on, IOnPolicyObjective objective, bool withWeights)
    {
        int t = batch.T;
        var values = new double[t];
        var jacobian = new double[t, t];
        var clipped = new bool[t];
        var lower = new bool[t];
        double W(int j) => withWeights ? batch.RolloutWeights[i, j] : 1;
        switch (objective)
        {
            case ClippedSurrogate s:
                for (int j = 0; j < t; j++)
                {
                    (double v, double g, clipped[j], lower[j]) = Surrogate(batch.LogProbs[i, j], batch.OldLogProbs[i, j], batch.Advantages[i, j], s);
                    values[j] = v * W(j);
                    jacobian[j, j] = g * W(j);
                }
                break;
            case GroupSequenceSurrogate gspo:
            {
                double sum = 0;
                int n = 0;
                for (int j = 0; j < t; j++)
                {
                    if (on[i, j])
                    {
                        sum += batch.LogProbs[i, j] - batch.OldLogProbs[i, j];
                        n++;
                    }
                }
                double logRatio = sum / Math.Max(n, 1);
                double ratio = Math.Exp(Math.Min(logRatio, 10)), dRatio = logRatio <= 10 ? ratio : 0;
                for (int j = 0; j < t; j++)
                {
                    (double v, double g, bool c) = ClippedProduct(ratio, dRatio, batch.Advantages[i, j], 1 - gspo.ClipLow, 1 + gspo.ClipHigh);
                    values[j] = v * W(j);
                    jacobian[j, j] = g * W(j);
                    clipped[j] = c;
                }
                break;
            }
            case SoftAdaptiveSurrogate sapo:
                for (int j = 0; j < t; j++)
                {
                    double d = batch.LogProbs[i, j] - batch.OldLogProbs[i, j], a = batch.Advantages[i, j];
                    double ratio = Math.Exp(Math.Clamp(d, -20, 20)), dRatio = Math.Abs(d) <= 20 ? ratio : 0;
                    double tau = a > 0 ? sapo.PositiveTemperature : sapo.NegativeTemperature;
                    double sigma = 1 / (1 + Math.Exp(-tau * (ratio - 1)));
                    values[j] = -sigma * 4 / tau * a * W(j);
                    jacobian[j, j] = -a * 4 * sigma * (1 - sigma) * dRatio * W(j);
                }
                break;
            case PolicyGradientObjective:
                for (int j = 0; j < t; j++)
                {
                    values[j] = -batch.LogProbs[i, j] * batch.Advantages[i, j] * W(j);
                    jacobian[j, j] = -batch.Advantages[i, j] * W(j);
                }
                break;
            case ClippedImportanceWeightObjective cispo:
                for (int j = 0; j < t; j++)
                {
                    double lp = batch.LogProbs[i, j], a = batch.Advantages[i, j];
                    double ratio = Math.Exp(Math.Clamp(lp - batch.OldLogProbs[i, j], -20, 20));
                    double weight = Math.Clamp(ratio, 1 - cispo.ClipLow, 1 + cispo.ClipHigh);
                    values[j] = -weight * a * lp * W(j);
                    jacobian[j, j] = -weight * a * W(j);
                    clipped[j] = ratio != weight;
                }
                break;
            case GeometricMeanSurrogate gmpo:
            {
                var slope = new double[t];
                double signedSum = 0, advantageSum = 0, logWeightSum = 0;
                int n = 0;
                for (int j = 0; j < t; j++)
                {
                    double d = batch.LogProbs[i, j] - batch.OldLogProbs[i, j], a = batch.Advantages[i, j];
                    double dc = Math.Clamp(d, -gmpo.ClipLow, gmpo.ClipHigh);
                    clipped[j] = d != dc && a > 0;
                    lower[j] = d != dc && a < 0;
                    if (!on[i, j])
                    {
                        continue;
                    }
                    double s = Math.Sign(a), x = s * d, y = s * dc;
                    double passes = d >= -gmpo.ClipLow && d <= gmpo.ClipHigh ? 1 : 0;
                    // ∂(s·min(s·d, s·clip(d)))/∂d: torch's min sends the gradient to the smaller side, half to each on a tie
                    slope[j] = s == 0 ? 0 : x < y ? 1 : x > y ? passes : 0.5 * (1 + passes);
                    signedSum += s * Math.Min(x, y);
                    advantageSum += a;
                    logWeightSum += Math.Log(W(j) + 1e-10);
                    n++;
                }
                double count = n + 1e-8;
                double ratio = Math.Exp(signedSum / count), advantage = advantageSum / count;
                double weight = withWeights ? Math.Exp(logWeightSum / count) : 1;
                double value = -advantage * ratio * weight;
                for (int j = 0; j < t; j++)
                {
                    values[j] = value;
                    for (int k = 0; k < t; k++)
                    {
                        jacobian[j, k] = on[i, k] ? -advantage * ratio * weight * slope[k] / count : 0;
                    }
                }
                break;
            }
            default:
                throw new NotSupportedException(objective.GetType().Name);
        }
        return new RowTerms(values, jacobian, clipped, lower);
    }

    /// <summary>PPO's clipped surrogate with dual clip for one token and its derivative with respect to log p (torch's tie rules).</summary>
    public static (double Value, double Grad, bool Clipped, bool Lower) Surrogate(double lp, double old, double a, ClippedSurrogate s)
    {
        (double ratio, double dRatio) = Ratio(s.Ratio, lp, old);
        double value, grad;
        bool clipped = false;
        if (s.Clip)
        {
            (value, grad, clipped) = ClippedProduct(ratio, dRatio, a, 1 - s.ClipLow, 1 + s.ClipHigh);
        }
        else
        {
            value = -a * ratio;
            grad = -a * dRatio;
        }
        bool lower = false;
        if (s.DualClip is { } c && a < 0)
        {
            double l3 = -a * c;
            lower = value > l3;
            if (l3 < value)
            {
                value = l3;
                grad = 0;
            }
            else if (l3 == value)
            {
                grad *= 0.5;
            }
        }
        return (value, grad, clipped, lower);
    }

    /// <summary>max(−A·r, −A·clip(r, lo, hi)) and its derivative (clamp passes the gradient at the bounds; max splits ties).</summary>
    private static (double Value, double Grad, bool Clipped) ClippedProduct(double ratio, double dRatio, double a, double lo, double hi)
    {
        double l1 = -a * ratio, g1 = -a * dRatio;
        double l2 = -a * Math.Clamp(ratio, lo, hi), g2 = ratio >= lo && ratio <= hi ? g1 : 0;
        return l2 > l1 ? (l2, g2, true) : l2 == l1 ? (l1, 0.5 * (g1 + g2), false) : (l1, g1, false);
    }

    /// <summary>The on-policy ratio of every built-in reshaping and its derivative with respect to log p, from the formulas in docs/objectives.md.</summary>
    public static (double Value, double Derivative) Ratio(IRatioReshaping ratio, double lp, double old)
    {
        double d = lp - old, clamped = Math.Clamp(d, -20, 20);
        double inside = Math.Abs(d) <= 20 ? 1 : 0;
        double rho = Math.Exp(clamped);
        switch (ratio)
        {
            case ExponentialRatio:
                return (rho, inside * rho);
            case LogRatio:
                return (d, 1);
            case RatioPlusLogRatio w:
                return (rho + w.Weight * d, inside * rho + w.Weight);
            case SquareRootRatio:
                return (Math.Sqrt(rho), inside * 0.5 * Math.Sqrt(rho));
            case PowerRatio k:
                return (Math.Pow(rho, k.Exponent), inside * k.Exponent * Math.Pow(rho, k.Exponent));
            case RegularizedRatio g:
            {
                // f(p)/f(p_old) = ρ·(p_old + γ)/(p + γ)
                double p = Math.Exp(lp), pOld = Math.Exp(old);
                double value = rho * (pOld + g.Gamma) / (p + g.Gamma);
                return (value, value * (inside - p / (p + g.Gamma)));
            }
            default:
                throw new NotSupportedException(ratio.GetType().Name);
        }
    }

    /// <summary>The off-policy ratio p/(q + 1e-6) with given trace probabilities, and its derivative with respect to log p.</summary>
    private static (double Value, double Derivative) QRatio(double lp, double q)
    {
        double value = Math.Exp(lp) / (q + 1e-6);
        return (value, value);
    }

    /// <summary>The weight w of a shaping's w·lp term (0 for those without one).</summary>
    private static double LogTermWeight(IShapingFunction shaping) => shaping switch
    {
        LogShaping l => l.Weight,
        IdentityPlusLogShaping l => l.Weight,
        _ => 0,
    };

    /// <summary>f(exp(lp)) and df/dlp from the formulas in docs/objectives.md.</summary>
    public static (double Value, double Derivative) Shape(IShapingFunction shaping, double lp)
    {
        double p = Math.Exp(lp);
        return shaping switch
        {
            RegularizedShaping r => (p / (p + r.Gamma), r.Gamma * p / ((p + r.Gamma) * (p + r.Gamma))),
            IdentityShaping => (p, p),
            PowerShaping k => (Math.Pow(p, k.Exponent), k.Exponent * Math.Pow(p, k.Exponent)),
            SquareRootShaping => (Math.Sqrt(p), 0.5 * Math.Sqrt(p)),
            LogShaping w => (w.Weight * lp, w.Weight),
            IdentityPlusLogShaping w => (p + w.Weight * lp, p + w.Weight),
            _ => throw new NotSupportedException(shaping.GetType().Name),
        };
    }

    public static (double Value, double Derivative) Kl(double lp, double reference, KlEstimator estimator)
    {
        double d = lp - reference;
        switch (estimator)
        {
            case KlEstimator.K1:
                return (d, 1);
            case KlEstimator.Absolute:
                return (Math.Abs(d), Math.Sign(d));
            case KlEstimator.K2:
                return (0.5 * d * d, d);
            default:
            {
                double kl = reference - lp;
                double value = Math.Exp(kl) - kl - 1;
                return value > 10 ? (10, 0) : (value, 1 - Math.Exp(kl));
            }
        }
    }

    /// <summary>∂(aggregate)/∂L[b, t] for every mode: the aggregate is Σ weight·L.</summary>
    public static double[,] AggregationWeights(bool[,] mask, LossAggregation mode, double? normalizer, double? constant)
    {
        int b = mask.GetLength(0), t = mask.GetLength(1);
        var lengths = new int[b];
        int tokens = 0, sequences = 0;
        for (int i = 0; i < b; i++)
        {
            for (int j = 0; j < t; j++)
            {
                lengths[i] += mask[i, j] ? 1 : 0;
            }
            tokens += lengths[i];
            sequences += lengths[i] > 0 ? 1 : 0;
        }
        var weight = new double[b, t];
        for (int i = 0; i < b; i++)
        {
            for (int j = 0; j < t; j++)
            {
                if (!mask[i, j])
                {
                    continue;
                }
                weight[i, j] = mode switch
                {
                    LossAggregation.TokenMean => 1.0 / (normalizer ?? Math.Max(tokens, 1)),
                    LossAggregation.SequenceMeanTokenSum => 1.0 / (normalizer ?? Math.Max(sequences, 1)),
                    LossAggregation.SequenceMeanTokenMean => 1.0 / ((normalizer ?? Math.Max(sequences, 1)) * lengths[i]),
                    _ => 1.0 / (normalizer ?? constant ?? t),
                };
            }
        }
        return weight;
    }
}

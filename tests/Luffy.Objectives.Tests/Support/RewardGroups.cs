namespace Luffy.Objectives.Tests.Support;

/// <summary>A host-side reward batch with group structure, plus independent double-precision estimators.</summary>
internal sealed class RewardGroups
{
    public required double[] Rewards { get; init; }
    public required long[] GroupIds { get; init; }
    public required int[] Lengths { get; init; }
    public required bool[] OffPolicy { get; init; }
    public int MaxLength => 12;

    public int B => Rewards.Length;

    /// <summary>
    /// Groups of 1–6 members (at least <paramref name="minGroupSize"/>) with scattered, non-contiguous ids in
    /// shuffled order; rewards binary, graded or continuous; some groups uniform; lengths 0–12.
    /// </summary>
    public static RewardGroups Random(int seed, int minGroupSize = 1)
    {
        var rng = new Random(seed);
        int groups = rng.Next(1, 7);
        var items = new List<(double R, long Id, int Len, bool Off)>();
        for (int g = 0; g < groups; g++)
        {
            long id = rng.Next(-1000, 1000) * 1000L + g; // distinct, scattered, possibly negative
            int size = rng.Next(minGroupSize, 7);
            int style = rng.Next(4);
            double uniform = rng.Next(2);
            for (int k = 0; k < size; k++)
            {
                double r = style switch
                {
                    0 => rng.Next(2),
                    1 => rng.Next(5) * 0.25,
                    2 => uniform,
                    _ => MixedBatch.Normal(rng) * 3 + 0.1,
                };
                items.Add((r, id, rng.Next(0, 13), rng.Next(3) == 0));
            }
        }
        var shuffled = items.OrderBy(_ => rng.Next()).ToArray();
        return new RewardGroups
        {
            Rewards = shuffled.Select(x => x.R).ToArray(),
            GroupIds = shuffled.Select(x => x.Id).ToArray(),
            Lengths = shuffled.Select(x => x.Len).ToArray(),
            OffPolicy = shuffled.Select(x => x.Off).ToArray(),
        };
    }

    public RewardBatch ToBatch(ScalarType dtype) => new(Tensors.From(Rewards, dtype), Tensors.Ids(GroupIds))
    {
        ResponseMask = Mask(),
        IsOffPolicy = tensor(OffPolicy),
    };

    public Tensor Mask()
    {
        var mask = new bool[B, MaxLength];
        for (int i = 0; i < B; i++)
        {
            for (int j = 0; j < Lengths[i]; j++)
            {
                mask[i, j] = true;
            }
        }
        return Tensors.Mask(mask);
    }

    public int[][] Members() => GroupIds.Distinct().Select(id => Enumerable.Range(0, B).Where(i => GroupIds[i] == id).ToArray()).ToArray();

    /// <summary>Two or more members with one reward: a group of one follows its estimator's rule instead (the reference's).</summary>
    public bool IsUniform(int[] members) => members.Length >= 2 && members.All(i => Rewards[i] == Rewards[members[0]]);

    public static (double Mean, double Std) MeanStd(double[] values)
    {
        if (values.Length < 2)
        {
            return (0, 1);
        }
        double mean = values.Average();
        double variance = values.Sum(v => (v - mean) * (v - mean)) / (values.Length - 1);
        return (mean, Math.Sqrt(variance));
    }

    public double[] Grpo(bool normalize, double epsilon)
    {
        var result = new double[B];
        foreach (int[] members in Members())
        {
            (double mean, double std) = MeanStd(members.Select(i => Rewards[i]).ToArray());
            foreach (int i in members)
            {
                result[i] = IsUniform(members) ? 0 : normalize ? (Rewards[i] - mean) / (std + epsilon) : Rewards[i] - mean;
            }
        }
        return result;
    }

    public double[] GrpoOnPolicyStatistics(bool normalize, double epsilon)
    {
        var result = new double[B];
        foreach (int[] members in Members())
        {
            // statistics of the on-policy members only; fewer than two: mean 0, std 1; std 0 -> 1; applied to all members
            (double mean, double std) = MeanStd(members.Where(i => !OffPolicy[i]).Select(i => Rewards[i]).ToArray());
            if (std == 0)
            {
                std = 1;
            }
            foreach (int i in members)
            {
                result[i] = normalize ? (Rewards[i] - mean) / (std + epsilon) : Rewards[i] - mean;
            }
        }
        return result;
    }

    public double[] Rloo()
    {
        var result = new double[B];
        foreach (int[] members in Members())
        {
            foreach (int i in members)
            {
                double others = members.Where(j => j != i).Sum(j => Rewards[j]);
                result[i] = IsUniform(members) ? 0 : members.Length == 1 ? Rewards[i] : Rewards[i] - others / (members.Length - 1);
            }
        }
        return result;
    }

    public double[] ReinforcePlusPlus()
    {
        var baseline = new double[B];
        foreach (int[] members in Members())
        {
            (double mean, _) = MeanStd(members.Select(i => Rewards[i]).ToArray());
            foreach (int i in members)
            {
                baseline[i] = Rewards[i] - mean;
            }
        }
        // whiten over tokens: every response token of sequence i carries baseline[i]
        var tokens = new List<double>();
        for (int i = 0; i < B; i++)
        {
            tokens.AddRange(Enumerable.Repeat(baseline[i], Lengths[i]));
        }
        double mu = tokens.Count == 0 ? 0 : tokens.Average();
        double variance = tokens.Sum(v => (v - mu) * (v - mu)) / Math.Max(tokens.Count - 1, 1);
        return baseline.Select(a => (a - mu) / Math.Sqrt(variance + 1e-8)).ToArray();
    }

    public double[] PassAtK(bool normalize, double epsilon)
    {
        var result = new double[B];
        foreach (int[] members in Members())
        {
            double max = members.Max(i => Rewards[i]);
            int best = members.Where(i => Rewards[i] == max).Min();
            double second = members.Where(i => i != best).Max(i => Rewards[i]);
            (_, double std) = MeanStd(members.Select(i => Rewards[i]).ToArray());
            result[best] = normalize ? (max - second) / (std + epsilon) : max - second;
        }
        return result;
    }

    public double[] Opo()
    {
        var result = new double[B];
        foreach (int[] members in Members())
        {
            double lengthSum = members.Sum(i => (double)Lengths[i]);
            double baseline = members.Length < 2 || lengthSum == 0 ? 0 : members.Sum(i => Lengths[i] * Rewards[i]) / lengthSum;
            foreach (int i in members)
            {
                result[i] = IsUniform(members) ? 0 : Rewards[i] - baseline;
            }
        }
        return result;
    }

    /// <summary>REINFORCE++: R_t = γ^(L−1−t)·r on a response of length L, whitened over every response token; (B, MaxLength).</summary>
    public double[,] ReinforcePlusPlusTokens(double gamma)
    {
        var returns = new List<(int I, int J, double R)>();
        for (int i = 0; i < B; i++)
        {
            for (int j = 0; j < Lengths[i]; j++)
            {
                returns.Add((i, j, Math.Pow(gamma, Lengths[i] - 1 - j) * Rewards[i]));
            }
        }
        double mu = returns.Count == 0 ? 0 : returns.Average(x => x.R);
        double variance = returns.Sum(x => (x.R - mu) * (x.R - mu)) / Math.Max(returns.Count - 1, 1);
        var result = new double[B, MaxLength];
        foreach ((int i, int j, double r) in returns)
        {
            result[i, j] = (r - mu) / Math.Sqrt(variance + 1e-8);
        }
        return result;
    }

    /// <summary>GPG: α·(r − mean_g)/f_norm, α = B / max(#non-zero rewards, 1); a group of one has mean 0.</summary>
    public double[] Gpg(double featureNorm)
    {
        double alpha = B / (double)Math.Max(Rewards.Count(r => r != 0), 1);
        var result = new double[B];
        foreach (int[] members in Members())
        {
            (double mean, _) = MeanStd(members.Select(i => Rewards[i]).ToArray());
            foreach (int i in members)
            {
                result[i] = IsUniform(members) ? 0 : alpha * (Rewards[i] - mean) / featureNorm;
            }
        }
        return result;
    }
}

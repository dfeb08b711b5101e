using Luffy.Objectives.Internal;
using static TorchSharp.torch;

namespace Luffy.Objectives.Experience;

public sealed partial class ExperienceBuffer
{
    private const long QuestionSalt = 0x51A7E5, SelectionSalt = 0x7E1EC7;

    /// <summary>
    /// n_exp, the questions a step of <paramref name="questions"/> replays: min(|V|, ⌊B·ρ⌋) once the warm-up has ended, 0
    /// before (V = <see cref="Questions"/>, ρ = <see cref="ExperienceOptions.ReplayShare"/>).
    /// </summary>
    /// <param name="questions">B, the step's questions, ≥ 1.</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="questions"/> is below 1.</exception>
    public int ReplayCount(int questions)
    {
        if (questions < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(questions), questions, "questions (B) must be >= 1.");
        }
        return ReplayStarted ? Math.Min(entries.Count, (int)(questions * Options.ReplayShare)) : 0;
    }

    /// <summary>
    /// A step's batch: n_exp = <see cref="ReplayCount"/>(B) questions drawn from the buffer (<see cref="SampleQuestions"/>)
    /// and the first B − n_exp of the loader's questions, fresh (the reference drops the loader's other n_exp for the step).
    /// </summary>
    /// <param name="loaderQuestions">The B question ids the data loader gave for this step, B ≥ 1.</param>
    /// <param name="step">The training step (≥ 0); the draw depends only on (seed, step, contents).</param>
    /// <returns>The plan.</returns>
    /// <exception cref="ArgumentException"><paramref name="loaderQuestions"/> is empty.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="step"/> is negative.</exception>
    public ReplayPlan PlanBatch(IReadOnlyList<long> loaderQuestions, long step)
    {
        ArgumentNullException.ThrowIfNull(loaderQuestions);
        if (loaderQuestions.Count == 0)
        {
            throw new ArgumentException("loaderQuestions is empty; a step needs at least one question.", nameof(loaderQuestions));
        }
        int n = ReplayCount(loaderQuestions.Count);
        return new ReplayPlan(SampleQuestions(n, step), [.. loaderQuestions.Take(loaderQuestions.Count - n)]);
    }

    /// <summary>
    /// Draws <paramref name="count"/> distinct questions to replay. Bucket weightings: counts per bucket
    /// ~ Multinomial(count, P) with P(k) = w(k)/Σ w over the occupied buckets (<see cref="BucketProbabilities(IEnumerable{int}, ExperienceOptions)"/>);
    /// a bucket drawn more often than it has questions is capped at its size and the excess is handed out one draw at a time
    /// to buckets not yet full, ∝ P renormalized over them (the reference's overflow rule); inside a bucket, questions
    /// uniformly without replacement. <see cref="BucketWeighting.UniformQuestions"/>: uniformly over all questions.
    /// </summary>
    /// <param name="count">How many, in [0, |V|].</param>
    /// <param name="step">The training step (≥ 0).</param>
    /// <returns>Distinct question ids, buckets in ascending k.</returns>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="count"/> is outside [0, |V|] or <paramref name="step"/> is negative.</exception>
    public IReadOnlyList<long> SampleQuestions(int count, long step)
    {
        if (count < 0 || count > entries.Count)
        {
            throw new ArgumentOutOfRangeException(nameof(count), count, $"count must be in [0, {entries.Count}] (the questions in the buffer).");
        }
        if (step < 0)
        {
            throw new ArgumentOutOfRangeException(nameof(step), step, "step must be >= 0.");
        }
        if (count == 0)
        {
            return [];
        }
        var random = new Random(SeedMixer.Mix(Options.Seed, step, QuestionSalt));
        if (Options.Weighting == BucketWeighting.UniformQuestions)
        {
            return Choose([.. entries.Keys], count, random);
        }

        var buckets = new SortedDictionary<int, List<long>>();
        foreach ((long id, Entry entry) in entries)
        {
            if (!buckets.TryGetValue(entry.Bucket, out List<long>? members))
            {
                buckets[entry.Bucket] = members = [];
            }
            members.Add(id);
        }
        int[] ks = [.. buckets.Keys];
        IReadOnlyDictionary<int, double> probabilities = BucketProbabilities(ks, Options);
        var counts = new int[ks.Length];
        double[] p = [.. ks.Select(k => probabilities[k])];
        for (int i = 0; i < count; i++)
        {
            counts[Draw(p, random)]++;
        }
        int excess = 0;
        for (int b = 0; b < ks.Length; b++)
        {
            int size = buckets[ks[b]].Count;
            if (counts[b] > size)
            {
                excess += counts[b] - size;
                counts[b] = size;
            }
        }
        while (excess-- > 0)
        {
            double[] open = [.. p.Select((w, b) => counts[b] < buckets[ks[b]].Count ? w : 0)];
            counts[Draw(open, random)]++;
        }
        var drawn = new List<long>(count);
        for (int b = 0; b < ks.Length; b++)
        {
            drawn.AddRange(Choose(buckets[ks[b]], counts[b], random));
        }
        return drawn;
    }

    /// <summary>
    /// The bucket probabilities P(k) = w(k)/Σ w(k′) over <paramref name="occupied"/>, with w the options' weighting:
    /// normal φ(k) = exp(−(k − μ)²/(2σ²)) (the constant 1/(σ√(2π)) cancels), linear k/G, square root √(k/G), linear-clip
    /// k/G or 0.5 where k &gt; G/2. With G = 8 and all seven buckets occupied the normal weights give 0.004433, 0.054006,
    /// 0.242036, 0.399050, 0.242036, 0.054006, 0.004433.
    /// </summary>
    /// <param name="occupied">The occupied buckets, each in [1, G − 1], distinct.</param>
    /// <param name="options">The options (G, weighting, μ, σ).</param>
    /// <returns>P per occupied bucket; empty for no buckets.</returns>
    /// <exception cref="ArgumentException">A bucket is outside [1, G − 1] or repeated, or the weighting is <see cref="BucketWeighting.UniformQuestions"/> (no buckets).</exception>
    public static IReadOnlyDictionary<int, double> BucketProbabilities(IEnumerable<int> occupied, ExperienceOptions options)
    {
        ArgumentNullException.ThrowIfNull(occupied);
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        if (options.Weighting == BucketWeighting.UniformQuestions)
        {
            throw new ArgumentException("Weighting is UniformQuestions: questions are drawn uniformly, without buckets.", nameof(options));
        }
        int g = options.SamplesPerPrompt;
        var weights = new SortedDictionary<int, double>();
        foreach (int k in occupied)
        {
            if (k < 1 || k > g - 1)
            {
                throw new ArgumentException($"bucket {k} is outside [1, G - 1] = [1, {g - 1}].", nameof(occupied));
            }
            if (!weights.TryAdd(k, Weight(k, options)))
            {
                throw new ArgumentException($"bucket {k} is listed twice.", nameof(occupied));
            }
        }
        double total = weights.Values.Sum();
        return weights.ToDictionary(w => w.Key, w => w.Value / total);
    }

    /// <summary>The probabilities of the buckets occupied now (<see cref="BucketProbabilities(IEnumerable{int}, ExperienceOptions)"/>); empty when the buffer is empty.</summary>
    /// <exception cref="ArgumentException">The weighting is <see cref="BucketWeighting.UniformQuestions"/>.</exception>
    public IReadOnlyDictionary<int, double> BucketProbabilities() => BucketProbabilities(entries.Values.Select(e => e.Bucket).Distinct(), Options);

    /// <summary>
    /// Which stored trajectory of a drawn question to replay (its index in <see cref="Trajectories"/>):
    /// <see cref="TrajectorySelection.LowestEntropy"/> the argmin of <paramref name="meanEntropies"/> (first on ties);
    /// <see cref="TrajectorySelection.Random"/> uniformly, seeded by (seed, step, question).
    /// </summary>
    /// <param name="questionId">A question in the buffer.</param>
    /// <param name="meanEntropies">
    /// The mean next-token entropy of each stored trajectory under the current policy, in <see cref="Trajectories"/> order
    /// (<see cref="MeanEntropies"/> computes them from <c>TokenStatistics</c>); required for LowestEntropy, must be null for Random.
    /// </param>
    /// <param name="step">The training step (≥ 0).</param>
    /// <returns>The index.</returns>
    /// <exception cref="ArgumentException">The question has no stored trajectory, the entropies are missing, of the wrong count or not finite, or given for Random selection.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="step"/> is negative.</exception>
    public int ChooseTrajectory(long questionId, IReadOnlyList<double>? meanEntropies, long step)
    {
        if (step < 0)
        {
            throw new ArgumentOutOfRangeException(nameof(step), step, "step must be >= 0.");
        }
        if (!entries.TryGetValue(questionId, out Entry? entry))
        {
            throw new ArgumentException($"question {questionId} has no stored trajectory{(retired.Contains(questionId) ? " (it was retired)" : "")}.", nameof(questionId));
        }
        int n = entry.Trajectories.Count;
        if (Options.Selection == TrajectorySelection.Random)
        {
            if (meanEntropies is not null)
            {
                throw new ArgumentException("Selection is Random but entropies were given; they would change nothing. Pass null, or use TrajectorySelection.LowestEntropy.", nameof(meanEntropies));
            }
            return new Random(SeedMixer.Mix(Options.Seed ^ (int)SelectionSalt, step, questionId)).Next(n);
        }
        if (meanEntropies is null)
        {
            throw new ArgumentException($"Selection is LowestEntropy but no entropies were given; pass the mean token entropy of each of question {questionId}'s {n} trajectories under the current policy (ExperienceBuffer.MeanEntropies).", nameof(meanEntropies));
        }
        if (meanEntropies.Count != n)
        {
            throw new ArgumentException($"question {questionId} has {n} stored trajectories but {meanEntropies.Count} entropies were given; give one per trajectory, in Trajectories order.", nameof(meanEntropies));
        }
        int best = 0;
        for (int i = 0; i < n; i++)
        {
            if (!double.IsFinite(meanEntropies[i]) || meanEntropies[i] < 0)
            {
                throw new ArgumentException($"entropy {i} of question {questionId} is {meanEntropies[i]}; entropies are finite and >= 0.", nameof(meanEntropies));
            }
            best = meanEntropies[i] < meanEntropies[best] ? i : best;
        }
        return best;
    }

    /// <summary>
    /// The mean next-token entropy of each row over its response tokens, H̄ = Σ m·H / Σ m, in double precision (one host
    /// read): what <see cref="TrajectorySelection.LowestEntropy"/> ranks. Pass <c>TokenStatistics.ForResponses(logits, batch).Entropy</c>
    /// of a batch of the question's stored trajectories and that batch's response mask.
    /// </summary>
    /// <param name="entropy">Token entropies, (n, T), floating point. Not disposed.</param>
    /// <param name="responseMask">Response mask, (n, T), bool or an integer dtype, on the same device. Not disposed.</param>
    /// <returns>n means.</returns>
    /// <exception cref="ArgumentException">The shapes differ, a dtype is wrong, or a row has no response token.</exception>
    public static double[] MeanEntropies(Tensor entropy, Tensor responseMask)
    {
        TensorGuard.Floating(entropy, nameof(entropy));
        TensorGuard.Rank(entropy, nameof(entropy), 2, "(n, T)");
        TensorGuard.Mask(responseMask, nameof(responseMask), entropy, nameof(entropy), "(n, T)");
        using var scope = NewDisposeScope();
        Tensor mask = TensorGuard.AsBoolMask(responseMask);
        Tensor values = entropy.detach().to_type(ScalarType.Float64);
        double[] sums = where(mask, values, zeros(1, dtype: ScalarType.Float64, device: values.device)).sum(1).cpu().data<double>().ToArray();
        long[] counts = mask.sum(1).cpu().data<long>().ToArray();
        var means = new double[sums.Length];
        for (int i = 0; i < means.Length; i++)
        {
            if (counts[i] == 0)
            {
                throw new ArgumentException($"row {i} of responseMask has no response token; a trajectory's mean entropy needs at least one.", nameof(responseMask));
            }
            means[i] = sums[i] / counts[i];
        }
        return means;
    }

    private static double Weight(int k, ExperienceOptions o)
    {
        int g = o.SamplesPerPrompt;
        return o.Weighting switch
        {
            BucketWeighting.Normal => Math.Exp(-0.5 * Math.Pow((k - o.EffectiveBucketMean) / o.EffectiveBucketStandardDeviation, 2)),
            BucketWeighting.Linear => (double)k / g,
            BucketWeighting.SquareRoot => Math.Sqrt((double)k / g),
            BucketWeighting.LinearClip => k > g / 2.0 ? 0.5 : (double)k / g,
            _ => throw new ArgumentOutOfRangeException(nameof(o), o.Weighting, "no bucket weight for this weighting."),
        };
    }

    /// <summary>An index drawn ∝ the weights (at least one positive).</summary>
    private static int Draw(double[] weights, Random random)
    {
        double u = random.NextDouble() * weights.Sum();
        int last = -1;
        for (int i = 0; i < weights.Length; i++)
        {
            if (weights[i] <= 0)
            {
                continue;
            }
            last = i;
            u -= weights[i];
            if (u < 0)
            {
                return i;
            }
        }
        return last; // rounding
    }

    /// <summary><paramref name="count"/> of <paramref name="items"/> uniformly without replacement (a partial Fisher–Yates shuffle of a copy).</summary>
    private static List<long> Choose(List<long> items, int count, Random random)
    {
        long[] copy = [.. items];
        for (int i = 0; i < count; i++)
        {
            int j = i + random.Next(copy.Length - i);
            (copy[i], copy[j]) = (copy[j], copy[i]);
        }
        return [.. copy.Take(count)];
    }
}

namespace Luffy.Objectives.Experience;

/// <summary>
/// Options of <see cref="ExperienceBuffer"/> (ExGRPO). Immutable; validated when a buffer is created. The defaults are those
/// of the official <c>run_exgrpo.sh</c>: G = 8, normal bucket weights with μ = G/2 and σ = 1, collection of every group with
/// 0 &lt; k ≤ 7, replay share ρ = 0.5, replay after the first batch whose solved share exceeds 0.35, the lowest-entropy
/// trajectory, no size bound.
/// </summary>
public sealed record ExperienceOptions
{
    /// <summary>G, members per group, ≥ 2 (buckets are k = 1..G − 1). The default is 8.</summary>
    public int SamplesPerPrompt { get; init; } = 8;

    /// <summary>How buckets are weighted when questions are drawn. The default is <see cref="BucketWeighting.Normal"/>.</summary>
    public BucketWeighting Weighting { get; init; } = BucketWeighting.Normal;

    /// <summary>μ of <see cref="BucketWeighting.Normal"/>, in correct-count units, finite. The default is <see langword="null"/>: G/2 (the reference's).</summary>
    public double? BucketMean { get; init; }

    /// <summary>σ &gt; 0 of <see cref="BucketWeighting.Normal"/>, in correct-count units. The default is <see langword="null"/>: 1 (the reference's).</summary>
    public double? BucketStandardDeviation { get; init; }

    /// <summary>A group is collected when <see cref="CollectLowerBound"/> &lt; k ≤ <see cref="CollectUpperBound"/> (and k &lt; G); ≥ 0. The default is 0 (the reference's <c>experience_lbound</c>).</summary>
    public int CollectLowerBound { get; init; }

    /// <summary>The upper bound of the collect range, in [1, G − 1]. The default is <see langword="null"/>: G − 1 (the reference's <c>experience_rbound</c> 7).</summary>
    public int? CollectUpperBound { get; init; }

    /// <summary>ρ in (0, 1]: at most ⌊B·ρ⌋ of a step's B questions are replayed. The default is 0.5.</summary>
    public double ReplayShare { get; init; } = 0.5;

    /// <summary>
    /// The warm-up ends after the first step whose batch solved share (correct responses / all responses) exceeds this
    /// (strictly), in [0, 1). The default is 0.35. Set 0 to start replaying after the first step that solves anything.
    /// </summary>
    public double StartSolvedShare { get; init; } = 0.35;

    /// <summary>Which stored trajectory of a drawn question is replayed. The default is <see cref="TrajectorySelection.LowestEntropy"/>.</summary>
    public TrajectorySelection Selection { get; init; } = TrajectorySelection.LowestEntropy;

    /// <summary>
    /// The most questions kept, ≥ 1; when a new question would exceed it, the question updated least recently is evicted
    /// (ties: the smallest id). The default is <see langword="null"/>: unbounded, as in the reference.
    /// </summary>
    public int? MaxQuestions { get; init; }

    /// <summary>The most trajectories kept per question, ≥ 1; when exceeded, the question's oldest stored trajectory is evicted. The default is <see langword="null"/>: unbounded, as in the reference.</summary>
    public int? MaxTrajectoriesPerQuestion { get; init; }

    /// <summary>A member is correct when its reward is ≥ this; finite. The default is 1 (0/1 rewards).</summary>
    public double SolvedReward { get; init; } = 1.0;

    /// <summary>Seed of the buffer's random choices; a draw depends only on (seed, step, the buffer's contents). The default is 0.</summary>
    public int Seed { get; init; }

    /// <summary>μ in effect: <see cref="BucketMean"/> or G/2.</summary>
    public double EffectiveBucketMean => BucketMean ?? SamplesPerPrompt / 2.0;

    /// <summary>σ in effect: <see cref="BucketStandardDeviation"/> or 1.</summary>
    public double EffectiveBucketStandardDeviation => BucketStandardDeviation ?? 1.0;

    /// <summary>The collect range's upper bound in effect: <see cref="CollectUpperBound"/> or G − 1.</summary>
    public int EffectiveCollectUpperBound => CollectUpperBound ?? SamplesPerPrompt - 1;

    /// <summary>Throws when an option is out of range or has no effect.</summary>
    /// <exception cref="ArgumentOutOfRangeException">An option is out of its documented range.</exception>
    /// <exception cref="ArgumentException">A normal-weight parameter is set with another weighting (it would change nothing), or the collect range is empty.</exception>
    public void Validate()
    {
        if (SamplesPerPrompt < 2)
        {
            throw new ArgumentOutOfRangeException(nameof(SamplesPerPrompt), SamplesPerPrompt, "SamplesPerPrompt (G) must be >= 2: buckets are the correct counts 1..G-1 of a group that is neither all wrong nor all correct.");
        }
        if (!Enum.IsDefined(Weighting))
        {
            throw new ArgumentOutOfRangeException(nameof(Weighting), Weighting, "Unknown BucketWeighting value.");
        }
        if (BucketMean is { } mean && !double.IsFinite(mean))
        {
            throw new ArgumentOutOfRangeException(nameof(BucketMean), mean, "BucketMean must be finite (or null for G/2).");
        }
        if (BucketStandardDeviation is { } sd && (!(sd > 0) || !double.IsFinite(sd)))
        {
            throw new ArgumentOutOfRangeException(nameof(BucketStandardDeviation), sd, "BucketStandardDeviation must be a finite number > 0 (or null for 1).");
        }
        if (Weighting != BucketWeighting.Normal && (BucketMean is not null || BucketStandardDeviation is not null))
        {
            throw new ArgumentException($"BucketMean/BucketStandardDeviation are set but Weighting is {Weighting}; they shape only the Normal weighting, so they would change nothing. Remove them or use BucketWeighting.Normal.", nameof(Weighting));
        }
        if (CollectLowerBound < 0)
        {
            throw new ArgumentOutOfRangeException(nameof(CollectLowerBound), CollectLowerBound, "CollectLowerBound must be >= 0.");
        }
        if (CollectUpperBound is { } upper && (upper < 1 || upper > SamplesPerPrompt - 1))
        {
            throw new ArgumentOutOfRangeException(nameof(CollectUpperBound), upper, $"CollectUpperBound must be in [1, G - 1] = [1, {SamplesPerPrompt - 1}] (or null for G - 1).");
        }
        if (CollectLowerBound >= EffectiveCollectUpperBound)
        {
            throw new ArgumentException($"the collect range ({CollectLowerBound}, {EffectiveCollectUpperBound}] is empty: no group would ever be stored. Lower CollectLowerBound or raise CollectUpperBound.", nameof(CollectLowerBound));
        }
        if (!(ReplayShare > 0 && ReplayShare <= 1))
        {
            throw new ArgumentOutOfRangeException(nameof(ReplayShare), ReplayShare, "ReplayShare must be in (0, 1]: the share of a step's questions drawn from the buffer.");
        }
        if (!(StartSolvedShare >= 0 && StartSolvedShare < 1))
        {
            throw new ArgumentOutOfRangeException(nameof(StartSolvedShare), StartSolvedShare, "StartSolvedShare must be in [0, 1): replay starts after a batch whose solved share exceeds it (strictly), so 1 would never start.");
        }
        if (!Enum.IsDefined(Selection))
        {
            throw new ArgumentOutOfRangeException(nameof(Selection), Selection, "Unknown TrajectorySelection value.");
        }
        if (MaxQuestions is < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(MaxQuestions), MaxQuestions, "MaxQuestions must be >= 1 (or null for no bound).");
        }
        if (MaxTrajectoriesPerQuestion is < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(MaxTrajectoriesPerQuestion), MaxTrajectoriesPerQuestion, "MaxTrajectoriesPerQuestion must be >= 1 (or null for no bound).");
        }
        if (!double.IsFinite(SolvedReward))
        {
            throw new ArgumentOutOfRangeException(nameof(SolvedReward), SolvedReward, "SolvedReward must be finite.");
        }
    }
}

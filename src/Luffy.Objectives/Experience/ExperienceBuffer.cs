namespace Luffy.Objectives.Experience;

/// <summary>
/// ExGRPO's experience buffer: per question, the policy's own correct trajectories (token ids and behaviour log-probs),
/// the question's bucket k (correct members of its latest collected group), and the questions retired after an
/// all-correct group. Engine-independent and host-side: a trainer records each finished group
/// (<see cref="RecordGroup"/>), ends each step with its solved share (<see cref="EndStep"/>, which ends the warm-up), and
/// at the next step asks which questions to replay (<see cref="PlanBatch"/>) and which of their trajectories
/// (<see cref="ChooseTrajectory"/>); a replayed trajectory joins a fresh group of its question as a forced member
/// (<see cref="ExperienceTrajectory.ToTrace"/> with <c>GroupPlanner</c>), and its tokens are trained with the shaped
/// importance weight (<c>PolicyLossInputs.TraceLogProbs</c>, <c>PolicyLossOptions.ExGrpo</c>). Every random choice
/// depends only on (seed, step, contents), so <see cref="Save"/> and <see cref="Load"/> make a resume bit-identical.
/// Not thread-safe.
/// </summary>
public sealed partial class ExperienceBuffer
{
    private readonly SortedDictionary<long, Entry> entries = [];
    private readonly SortedSet<long> retired = [];
    private long clock;
    private long evicted;

    /// <summary>Creates an empty buffer (in its warm-up) with validated options.</summary>
    /// <param name="options">The options; <see langword="null"/> uses the defaults of the official script.</param>
    /// <exception cref="ArgumentException">An option is out of range or has no effect (see <see cref="ExperienceOptions.Validate"/>).</exception>
    public ExperienceBuffer(ExperienceOptions? options = null)
    {
        Options = options ?? new ExperienceOptions();
        Options.Validate();
    }

    /// <summary>The options this buffer was created with.</summary>
    public ExperienceOptions Options { get; }

    /// <summary>Whether the warm-up has ended (one-way): groups are collected and questions replayed only from then on, and ExGRPO's on-policy loss is unclipped.</summary>
    public bool ReplayStarted { get; private set; }

    /// <summary>The ids of the questions that can be replayed (each with at least one stored trajectory), ascending; a snapshot.</summary>
    public IReadOnlyList<long> Questions => [.. entries.Keys];

    /// <summary>The state of the buffer.</summary>
    public ExperienceStatistics Statistics
    {
        get
        {
            var buckets = new int[Options.SamplesPerPrompt - 1];
            foreach (Entry entry in entries.Values)
            {
                buckets[entry.Bucket - 1]++;
            }
            return new ExperienceStatistics(entries.Count, entries.Values.Sum(e => e.Trajectories.Count), retired.Count, buckets, ReplayStarted, evicted);
        }
    }

    /// <summary>The stored trajectories of a question, oldest first; empty when it has none.</summary>
    /// <param name="questionId">The question.</param>
    public IReadOnlyList<ExperienceTrajectory> Trajectories(long questionId) => entries.TryGetValue(questionId, out Entry? entry) ? [.. entry.Trajectories] : [];

    /// <summary>The question's bucket k, or <see langword="null"/> when it has no stored trajectory.</summary>
    /// <param name="questionId">The question.</param>
    public int? BucketOf(long questionId) => entries.TryGetValue(questionId, out Entry? entry) ? entry.Bucket : null;

    /// <summary>Whether the question was retired after an all-correct group.</summary>
    /// <param name="questionId">The question.</param>
    public bool IsRetired(long questionId) => retired.Contains(questionId);

    /// <summary>
    /// Records a finished group of G members (fresh and replayed alike; the replayed member counts, as in the reference):
    /// k = correct members. k = G retires the question (removed from the buffer for good, in both phases). During the
    /// replay phase, 0 &lt; k &lt; G within the collect range sets the question's bucket to k and stores each correct
    /// member whose tokens are not stored yet (with its behaviour log-probs); k = 0 changes nothing.
    /// </summary>
    /// <param name="questionId">The group's question.</param>
    /// <param name="members">The G members with their rewards; correct ones need behaviour log-probs while collecting.</param>
    /// <returns>What happened.</returns>
    /// <exception cref="ArgumentException">Not G members, a null member or token list, a non-finite reward, or a correct member to store without valid log-probs (the message names the member).</exception>
    public GroupRecord RecordGroup(long questionId, IReadOnlyList<ExperienceCandidate> members)
    {
        ArgumentNullException.ThrowIfNull(members);
        int g = Options.SamplesPerPrompt;
        if (members.Count != g)
        {
            throw new ArgumentException($"question {questionId}: {members.Count} members but SamplesPerPrompt (G) is {g}; record whole groups.", nameof(members));
        }
        int k = 0;
        for (int i = 0; i < g; i++)
        {
            ExperienceCandidate member = members[i] ?? throw new ArgumentException($"question {questionId}: member {i} is null.", nameof(members));
            if (member.Tokens is null)
            {
                throw new ArgumentException($"question {questionId}: member {i} has no token list.", nameof(members));
            }
            if (!double.IsFinite(member.Reward))
            {
                throw new ArgumentException($"question {questionId}: member {i} has reward {member.Reward}; rewards must be finite.", nameof(members));
            }
            k += member.Reward >= Options.SolvedReward ? 1 : 0;
        }
        if (retired.Contains(questionId))
        {
            return new GroupRecord(GroupOutcome.AlreadyRetired, k, 0, 0);
        }
        if (k == g)
        {
            retired.Add(questionId);
            entries.Remove(questionId);
            return new GroupRecord(GroupOutcome.Retired, k, 0, 0);
        }
        if (!ReplayStarted)
        {
            return new GroupRecord(GroupOutcome.WarmingUp, k, 0, 0);
        }
        if (k == 0)
        {
            return new GroupRecord(GroupOutcome.Unsolved, k, 0, 0);
        }
        if (k <= Options.CollectLowerBound || k > Options.EffectiveCollectUpperBound)
        {
            return new GroupRecord(GroupOutcome.OutsideCollectRange, k, 0, 0);
        }

        // validate every correct member before changing anything
        var candidates = new List<ExperienceTrajectory>();
        for (int i = 0; i < g; i++)
        {
            ExperienceCandidate member = members[i];
            if (member.Reward < Options.SolvedReward)
            {
                continue;
            }
            if (member.BehaviourLogProbs is null)
            {
                throw new ArgumentException($"question {questionId}: member {i} is correct but has no behaviour log-probs; a stored trajectory needs them (its replayed tokens are weighted by p/π_past).", nameof(members));
            }
            try
            {
                candidates.Add(new ExperienceTrajectory(member.Tokens, member.BehaviourLogProbs));
            }
            catch (ArgumentException e)
            {
                throw new ArgumentException($"question {questionId}: member {i}: {e.Message}", nameof(members), e);
            }
        }

        int removed = 0;
        if (!entries.TryGetValue(questionId, out Entry? entry))
        {
            entry = new Entry();
            entries[questionId] = entry;
        }
        entry.Bucket = k;
        entry.Updated = ++clock;
        int stored = 0;
        foreach (ExperienceTrajectory candidate in candidates)
        {
            if (entry.Trajectories.Any(t => t.HasTokens(candidate.Tokens)))
            {
                continue;
            }
            entry.Trajectories.Add(candidate);
            stored++;
            if (Options.MaxTrajectoriesPerQuestion is { } most && entry.Trajectories.Count > most)
            {
                entry.Trajectories.RemoveAt(0);
                removed++;
            }
        }
        if (Options.MaxQuestions is { } maxQuestions && entries.Count > maxQuestions)
        {
            long oldest = entries.Where(e => e.Key != questionId).MinBy(e => (e.Value.Updated, e.Key)).Key;
            removed += entries[oldest].Trajectories.Count;
            entries.Remove(oldest);
        }
        evicted += removed;
        return new GroupRecord(GroupOutcome.Collected, k, stored, removed);
    }

    /// <summary>
    /// Ends a step: the first step whose batch solved share exceeds <see cref="ExperienceOptions.StartSolvedShare"/> ends the
    /// warm-up (as in the reference, the next step collects with the unclipped loss and the one after replays).
    /// </summary>
    /// <param name="solvedShare">Correct responses / all responses of the step's batch, in [0, 1].</param>
    /// <returns>Whether this call ended the warm-up.</returns>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="solvedShare"/> is outside [0, 1].</exception>
    public bool EndStep(double solvedShare)
    {
        if (!(solvedShare >= 0 && solvedShare <= 1))
        {
            throw new ArgumentOutOfRangeException(nameof(solvedShare), solvedShare, "solvedShare must be in [0, 1] (correct responses / all responses).");
        }
        if (ReplayStarted || !(solvedShare > Options.StartSolvedShare))
        {
            return false;
        }
        ReplayStarted = true;
        return true;
    }

    private sealed class Entry
    {
        public int Bucket { get; set; }

        public long Updated { get; set; }

        public List<ExperienceTrajectory> Trajectories { get; } = [];
    }
}

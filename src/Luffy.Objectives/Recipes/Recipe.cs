using Luffy.Objectives.Advantages;
using Luffy.Objectives.Batching;
using Luffy.Objectives.Losses;

namespace Luffy.Objectives.Recipes;

/// <summary>
/// A method as data: the loss options, the advantage estimator and the group plan that belong together, so that a
/// preset's pairing is not prose ("pair it with …"). Build the pieces from it:
/// <c>new MixedPolicyLoss(Recipe.LuffyMainRun.Loss)</c>, <c>Recipe.LuffyMainRun.Estimator.Compute(rewards)</c>,
/// <c>new GroupPlanner(Recipe.LuffyMainRun.Plan)</c>. Records: change a piece with <c>with</c>; equal recipes compare equal.
/// </summary>
public sealed record Recipe
{
    /// <summary>The recipe's name, e.g. <c>luffy</c>, <c>grpo</c>, <c>dr-grpo</c>.</summary>
    public required string Name { get; init; }

    /// <summary>Where the settings come from (paper and reference code, with verl's registry keys where verl has the method).</summary>
    public required string Source { get; init; }

    /// <summary>The loss options (validated when a <see cref="MixedPolicyLoss"/> is created from them).</summary>
    public required PolicyLossOptions Loss { get; init; }

    /// <summary>The advantage estimator the method uses.</summary>
    public required IAdvantageEstimator Estimator { get; init; }

    /// <summary>The group plan: samples per prompt and trace carriers (0 for on-policy methods).</summary>
    public required GroupPlanOptions Plan { get; init; }

    /// <summary>GRPO (verl <c>vanilla</c> + <c>grpo</c>): clipped PPO (ε = 0.2), token-mean, group-normalized advantages with std, 8 on-policy samples per prompt.</summary>
    public static Recipe Grpo { get; } = new()
    {
        Name = "grpo", Source = "DeepSeekMath (arXiv 2402.03300); verl policy_loss vanilla, adv_estimator grpo",
        Loss = PolicyLossOptions.Grpo, Estimator = new GroupNormalizedAdvantage(), Plan = OnPolicyPlan,
    };

    /// <summary>Dr.GRPO: clipped PPO, seq-mean-token-sum-norm, advantages without std normalization, 8 on-policy samples.</summary>
    public static Recipe DrGrpo { get; } = new()
    {
        Name = "dr-grpo", Source = "Understanding R1-Zero-Like Training (arXiv 2503.20783); verl vanilla + grpo with norm_adv_by_std_in_grpo=False, loss_agg_mode seq-mean-token-sum-norm",
        Loss = PolicyLossOptions.DrGrpo, Estimator = new GroupNormalizedAdvantage(normalizeByStd: false), Plan = OnPolicyPlan,
    };

    /// <summary>LUFFY's main run: <see cref="PolicyLossOptions.LuffyMainRun"/>, Dr.GRPO advantages over the mixed group, 7 rollouts and 1 full trace per prompt.</summary>
    public static Recipe LuffyMainRun { get; } = new()
    {
        Name = "luffy", Source = "LUFFY (arXiv 2504.14945), ElliottYan/LUFFY main run: mix_core_alg.compute_token_on_off_policy_loss",
        Loss = PolicyLossOptions.LuffyMainRun, Estimator = new GroupNormalizedAdvantage(normalizeByStd: false),
        Plan = new GroupPlanOptions { SamplesPerPrompt = 8, TraceCarriers = 1, Strategy = new FullTraceStrategy() },
    };

    /// <summary>
    /// The LUFFY repository's "RL w/ SFT loss" baseline: GRPO on the rollouts (advantages from the rollouts' own
    /// statistics, the reference's <c>grpo_split</c>, without std normalization as in the main run) plus λ = 1 times the SFT
    /// loss on the trace sequence of each group.
    /// </summary>
    public static Recipe RlWithSftLoss { get; } = new()
    {
        Name = "rl-sft", Source = "LUFFY (arXiv 2504.14945) baseline: use_sft_multitask_loss, sft_loss_coef 1",
        Loss = PolicyLossOptions.RlWithSftLoss(), Estimator = new OnPolicyGroupNormalizedAdvantage(normalizeByStd: false),
        Plan = LuffyMainRun.Plan,
    };

    /// <summary>GSPO (verl <c>gspo</c>): sequence-level ratios, seq-mean-token-mean, GRPO advantages, 8 on-policy samples.</summary>
    public static Recipe Gspo { get; } = new()
    {
        Name = "gspo", Source = "GSPO (arXiv 2507.18071); verl policy_loss gspo, adv_estimator grpo",
        Loss = PolicyLossOptions.Gspo, Estimator = new GroupNormalizedAdvantage(), Plan = OnPolicyPlan,
    };

    /// <summary>SAPO (verl <c>sapo</c>): soft adaptive gates, seq-mean-token-mean, GRPO advantages, 8 on-policy samples.</summary>
    public static Recipe Sapo { get; } = new()
    {
        Name = "sapo", Source = "SAPO (arXiv 2511.20347); verl policy_loss sapo, adv_estimator grpo",
        Loss = PolicyLossOptions.Sapo, Estimator = new GroupNormalizedAdvantage(), Plan = OnPolicyPlan,
    };

    /// <summary>GMPO (verl <c>geo_mean</c>): the geometric mean of token ratios, mean over sequences, GRPO advantages, 8 on-policy samples.</summary>
    public static Recipe Gmpo { get; } = new()
    {
        Name = "gmpo", Source = "GMPO (arXiv 2507.20673); verl policy_loss geo_mean, adv_estimator grpo",
        Loss = PolicyLossOptions.Gmpo, Estimator = new GroupNormalizedAdvantage(), Plan = OnPolicyPlan,
    };

    /// <summary>CISPO (verl <c>cispo</c>): clipped, detached importance weights times −A·log p, token-mean, GRPO advantages, 8 on-policy samples.</summary>
    public static Recipe Cispo { get; } = new()
    {
        Name = "cispo", Source = "MiniMax-M1 (arXiv 2506.13585); verl policy_loss cispo, adv_estimator grpo",
        Loss = PolicyLossOptions.Cispo, Estimator = new GroupNormalizedAdvantage(), Plan = OnPolicyPlan,
    };

    /// <summary>GPG (verl <c>gpg</c> + <c>gpg</c>): −A·log p, token-mean, GPG's rescaled group advantages, 8 on-policy samples.</summary>
    public static Recipe Gpg { get; } = new()
    {
        Name = "gpg", Source = "GPG (AMAP-ML/GPG); verl policy_loss gpg, adv_estimator gpg",
        Loss = PolicyLossOptions.Gpg, Estimator = new GpgAdvantage(), Plan = OnPolicyPlan,
    };

    /// <summary>Every built-in recipe, in the order above.</summary>
    public static IReadOnlyList<Recipe> All { get; } = [Grpo, DrGrpo, LuffyMainRun, RlWithSftLoss, Gspo, Sapo, Gmpo, Cispo, Gpg];

    /// <summary>The built-in recipe called <paramref name="name"/> (case-insensitive), e.g. <c>luffy</c> or <c>dr-grpo</c>.</summary>
    /// <param name="name">A recipe name from <see cref="All"/>.</param>
    /// <exception cref="ArgumentException">No built-in recipe has that name (the message lists them).</exception>
    public static Recipe Named(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        return All.FirstOrDefault(r => string.Equals(r.Name, name, StringComparison.OrdinalIgnoreCase))
            ?? throw new ArgumentException($"no recipe is called '{name}'; the built-in recipes are {string.Join(", ", All.Select(r => r.Name))}.", nameof(name));
    }

    private static GroupPlanOptions OnPolicyPlan => new() { SamplesPerPrompt = 8, TraceCarriers = 0 };
}

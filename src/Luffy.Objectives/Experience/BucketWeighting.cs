namespace Luffy.Objectives.Experience;

/// <summary>How <see cref="ExperienceBuffer"/> weighs its buckets (k = correct members of a question's latest qualifying group, 1 ≤ k ≤ G − 1) when it draws questions to replay.</summary>
public enum BucketWeighting
{
    /// <summary>The normal density in k, φ(k) = exp(−(k − μ)²/(2σ²)) (μ = G/2, σ = 1 by default; the reference's <c>normal</c>): medium-difficulty questions first.</summary>
    Normal = 0,

    /// <summary>k/G (the reference's <c>linear</c>): easier questions first.</summary>
    Linear = 1,

    /// <summary>√(k/G) (the reference's <c>sqrt</c>).</summary>
    SquareRoot = 2,

    /// <summary>k/G, or 0.5 where k &gt; G/2 (the reference's <c>linear_clip</c>).</summary>
    LinearClip = 3,

    /// <summary>No buckets: questions uniformly (the reference without a bucket manager).</summary>
    UniformQuestions = 4,
}

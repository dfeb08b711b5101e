using Luffy.Trainer.Model;

namespace Luffy.Trainer.Training;

/// <summary>
/// What the training loop needs from a task: prompts with their off-policy traces, the rule-based reward, the token
/// conventions, and an evaluation. The embedded arithmetic task and JSONL math data both implement it.
/// </summary>
public interface ITrainingTask
{
    /// <summary>Size of the model's vocabulary (ids are checked against it).</summary>
    int VocabularySize { get; }

    /// <summary>Padding token id.</summary>
    int PadTokenId { get; }

    /// <summary>Tokens that end a response.</summary>
    IReadOnlyList<int> EosTokenIds { get; }

    /// <summary>Longest prompt in tokens.</summary>
    int MaxPromptLength { get; }

    /// <summary>Identifies the task's settings in checkpoints (resuming with other settings is refused).</summary>
    string Fingerprint { get; }

    /// <summary>The <paramref name="count"/> prompts of optimizer step <paramref name="step"/> (1-based); deterministic in (seed, step).</summary>
    IReadOnlyList<TaskPrompt> Prompts(int seed, int step, int count);

    /// <summary>A stable id of the prompt's question, the same on every step and run (the experience buffer's key, ExGRPO).</summary>
    /// <exception cref="NotSupportedException">The task has no stable question ids.</exception>
    long QuestionId(TaskPrompt prompt);

    /// <summary>The question <paramref name="id"/> (<see cref="QuestionId"/>) as a prompt: what a replay group of it is rolled out from.</summary>
    /// <exception cref="ArgumentException"><paramref name="id"/> is no question of the task.</exception>
    /// <exception cref="NotSupportedException">The task has no stable question ids.</exception>
    TaskPrompt Question(long id);

    /// <summary>Rule-based reward of a response (tokens after the prompt and any forced prefix are included).</summary>
    double Reward(TaskPrompt prompt, IReadOnlyList<int> response);

    /// <summary>What the task's difficulty levels are called in summaries (e.g. "level (operands)"), or null when it has none.</summary>
    string? LevelLabel { get; }

    /// <summary>
    /// Accuracy on the task's test splits (the primary one first) and its further measures, with the drift from
    /// <paramref name="reference"/> (the base model) among them when it is given; stops early when cancelled.
    /// </summary>
    /// <exception cref="OperationCanceledException"><paramref name="cancel"/> was signalled.</exception>
    Evaluation Evaluate(CausalLanguageModel model, CausalLanguageModel? reference, CancellationToken cancel = default);
}

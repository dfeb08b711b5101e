using System.Globalization;
using Luffy.Objectives.Batching;
using Luffy.Trainer.HuggingFace;
using Luffy.Trainer.Model;
using Luffy.Trainer.Training;

namespace Luffy.Trainer.Reasoning;

/// <summary>
/// Math reasoning from JSONL data (<see cref="JsonlReasoningReader"/>) for a Hugging Face model: prompts rendered
/// with the Qwen chat template, each record's target as the off-policy trace (ending with <c>&lt;|im_end|&gt;</c>),
/// the boxed-answer verifier as the reward, and greedy accuracy on an optional evaluation file. Training data is
/// streamed in file order and wraps around (shuffle the file beforehand); prompts longer than
/// <see cref="MaxPromptLength"/> are skipped and counted.
/// </summary>
public sealed class ReasoningTask : ITrainingTask
{
    private readonly HuggingFaceTokenizer tokenizer;
    private readonly string dataPath;
    private readonly string? evalPath;
    private readonly TrainerOptions options;
    private readonly string? systemPrompt;
    private IEnumerator<ReasoningRecord>? stream;
    private long position;
    private bool sawUsable;

    /// <param name="tokenizer">The model's tokenizer.</param>
    /// <param name="config">The model's configuration (vocabulary size, EOS ids).</param>
    /// <param name="dataPath">Training JSONL.</param>
    /// <param name="evalPath">Evaluation JSONL, or null for no evaluation.</param>
    /// <param name="options">Trainer options (max prompt/response length, system prompt, think, eval count).</param>
    public ReasoningTask(HuggingFaceTokenizer tokenizer, TransformerConfig config, string dataPath, string? evalPath, TrainerOptions options)
    {
        this.tokenizer = tokenizer;
        this.dataPath = dataPath;
        this.evalPath = evalPath;
        this.options = options;
        if (tokenizer.VocabularySize > config.VocabularySize)
        {
            throw new OptionException("model", options.Model ?? "", $"a tokenizer whose {tokenizer.VocabularySize} ids fit the model's vocab_size {config.VocabularySize}");
        }
        systemPrompt = options.SystemPrompt switch
        {
            "luffy" => QwenChatTemplate.LuffySystemPrompt,
            "qwen" => QwenChatTemplate.QwenDefaultSystemPrompt,
            _ => null,
        };
        var eos = new List<int>();
        foreach (int id in new[] { tokenizer.TokenId(QwenChatTemplate.ImEnd) }.Concat(config.EosTokenIds.Select(e => (int?)e)).Append(tokenizer.TokenId("<|endoftext|>")).OfType<int>())
        {
            if (!eos.Contains(id))
            {
                eos.Add(id);
            }
        }
        if (eos.Count == 0)
        {
            throw new OptionException("model", "config.json", "a model whose config.json names an eos_token_id (or whose tokenizer has <|im_end|>)");
        }
        EosTokenIds = eos;
        PadTokenId = tokenizer.TokenId("<|endoftext|>") ?? eos[0];
        VocabularySize = config.VocabularySize;
        Fingerprint = string.Join('|', Path.GetFullPath(dataPath), options.Model, options.SystemPrompt, options.OpenThink, options.MaxPromptLength);
    }

    /// <inheritdoc/>
    public int VocabularySize { get; }

    /// <inheritdoc/>
    public int PadTokenId { get; }

    /// <summary><c>&lt;|im_end|&gt;</c> first (appended to traces), then the config's EOS ids and <c>&lt;|endoftext|&gt;</c>.</summary>
    public IReadOnlyList<int> EosTokenIds { get; }

    /// <inheritdoc/>
    public int MaxPromptLength => options.MaxPromptLength;

    /// <inheritdoc/>
    public string Fingerprint { get; }

    /// <summary>Training records skipped so far because their prompt was too long.</summary>
    public long SkippedRecords { get; private set; }

    /// <summary>The prompt's token ids (chat template applied, generation prompt opened).</summary>
    public int[] PromptTokens(ReasoningRecord record) =>
        tokenizer.Encode(QwenChatTemplate.Render(record.Prompt, addGenerationPrompt: true, openThink: options.OpenThink, defaultSystemPrompt: systemPrompt));

    /// <inheritdoc/>
    public IReadOnlyList<TaskPrompt> Prompts(int seed, int step, int count)
    {
        long start = (long)(step - 1) * count;
        if (stream is null || position > start)
        {
            Restart();
        }
        var prompts = new List<TaskPrompt>(count);
        while (prompts.Count < count)
        {
            TaskPrompt? next = NextUsable();
            if (position++ >= start)
            {
                prompts.Add(next);
            }
        }
        return prompts;
    }

    private void Restart()
    {
        Reopen();
        position = 0;
    }

    /// <summary>Starts reading the data file from its first line again.</summary>
    private void Reopen()
    {
        stream?.Dispose();
        stream = JsonlReasoningReader.Read(dataPath).GetEnumerator();
    }

    private TaskPrompt NextUsable()
    {
        bool wrapped = false;
        while (true)
        {
            if (!stream!.MoveNext())
            {
                if (wrapped || !sawUsable)
                {
                    throw new OptionException("data", dataPath, $"a JSONL file with at least one record whose prompt fits max-prompt-length = {options.MaxPromptLength} tokens ({SkippedRecords} skipped as too long)");
                }
                Reopen();
                wrapped = true;
                continue;
            }
            ReasoningRecord record = stream.Current;
            int[] tokens = PromptTokens(record);
            if (tokens.Length > options.MaxPromptLength)
            {
                SkippedRecords++;
                continue;
            }
            sawUsable = true;
            OffPolicyTrace? trace = record.Target is null ? null : new OffPolicyTrace(tokenizer.Encode(QwenChatTemplate.TraceContinuation(record.Target, options.OpenThink)));
            return new TaskPrompt(tokens, trace, record);
        }
    }

    /// <summary>Not supported: records are read as a stream that wraps around, so a record has no stable id yet (--mode exgrpo runs the embedded task; the options refuse it with --model).</summary>
    public long QuestionId(TaskPrompt prompt) => throw new NotSupportedException("the JSONL task has no stable question ids; --mode exgrpo runs the embedded task only.");

    /// <summary>Not supported (see <see cref="QuestionId"/>).</summary>
    public TaskPrompt Question(long id) => throw new NotSupportedException("the JSONL task has no stable question ids; --mode exgrpo runs the embedded task only.");

    /// <inheritdoc/>
    public double Reward(TaskPrompt prompt, IReadOnlyList<int> response) =>
        MathAnswerVerifier.Reward(tokenizer.Decode(response, skipSpecialTokens: true), ((ReasoningRecord)prompt.Problem).GroundTruth);

    /// <inheritdoc/>
    public string? LevelLabel => null;

    /// <inheritdoc/>
    public Evaluation Evaluate(CausalLanguageModel model, CausalLanguageModel? reference, CancellationToken cancel = default)
    {
        var noMeasures = new Dictionary<string, double>();
        if (evalPath is null)
        {
            return new Evaluation([new SplitAccuracy("evaluation", double.NaN, new Dictionary<int, double>(), [])], noMeasures);
        }
        ReasoningRecord[] records = JsonlReasoningReader.Read(evalPath).Take(options.EvalPerLevel).ToArray();
        bool training = model.training;
        model.eval();
        try
        {
            var correct = new List<bool>();
            var examples = new List<Example>();
            foreach (ReasoningRecord[] chunk in records.Chunk(options.MicroBatch))
            {
                cancel.ThrowIfCancellationRequested();
                int[][] contexts = chunk.Select(PromptTokens).ToArray();
                GenerationResult result = Generation.Generate(model, contexts, options.MaxResponseLength, 0, 1, null, eosTokenIds: EosTokenIds, padTokenId: PadTokenId);
                for (int i = 0; i < chunk.Length; i++)
                {
                    string response = tokenizer.Decode(result.Tokens[i], skipSpecialTokens: true);
                    bool ok = MathAnswerVerifier.Reward(response, chunk[i].GroundTruth) > 0;
                    correct.Add(ok);
                    if (examples.Count < 4)
                    {
                        string question = chunk[i].Prompt.Last(m => m.Role == "user").Content;
                        examples.Add(new Example(0, Shorten(question, 60, fromEnd: false), Shorten(response, 80, fromEnd: true), ok));
                    }
                }
            }
            double accuracy = correct.Count == 0 ? double.NaN : correct.Average(c => c ? 1.0 : 0.0);
            return new Evaluation([new SplitAccuracy(Path.GetFileName(evalPath), accuracy, new Dictionary<int, double>(), examples)], noMeasures);
        }
        finally
        {
            model.train(training);
        }
    }

    private static string Shorten(string text, int length, bool fromEnd)
    {
        string flat = text.Replace('\n', ' ');
        return flat.Length <= length ? flat : fromEnd ? "…" + flat[^length..] : flat[..length] + "…";
    }

    /// <summary>The evaluation split's size, for the log.</summary>
    public override string ToString() => string.Create(CultureInfo.InvariantCulture, $"{dataPath} (eval: {evalPath ?? "none"})");
}

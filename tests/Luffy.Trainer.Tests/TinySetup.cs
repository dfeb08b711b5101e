using Luffy.Trainer;
using Luffy.Trainer.Arithmetic;
using Luffy.Trainer.Model;
using Luffy.Trainer.Training;
using static TorchSharp.torch;

namespace Luffy.Trainer.Tests;

/// <summary>A tiny configuration that trains in seconds, in its own temporary folder.</summary>
internal sealed class TinySetup : IDisposable
{
    public TinySetup(string mode = "luffy")
    {
        Folder = Path.Combine(Path.GetTempPath(), "luffy-trainer-test-" + Guid.NewGuid().ToString("N"));
        Options = new TrainerOptions
        {
            Mode = mode, Steps = 4, PromptsPerStep = 3, SamplesPerPrompt = 3, TracesPerPrompt = 1, MaxResponseLength = 14,
            MicroBatch = 4, DModel = 16, Layers = 1, Heads = 2, PretrainSteps = 3, PretrainBatch = 8, EvalPerLevel = 2,
            EvalEvery = 2, CheckpointEvery = 2, LearningRate = 1e-2, WarmupSteps = 0, PassK = 2, Tensorboard = false, Output = Path.Combine(Folder, "runs"), Cache = Path.Combine(Folder, "cache"),
        };
        Data = new TaskData(new CharTokenizer(), Options.MaxOperand);
        BaseModel = Training.BaseModel.LoadOrPretrain(Options, Data, CPU, _ => { });
    }

    public string Folder { get; }

    public TrainerOptions Options { get; set; }

    public TaskData Data { get; }

    public TinyTransformer BaseModel { get; }

    /// <summary>A run of <paramref name="method"/> from a copy of the base model, with another copy as its reference (KL penalty and measure).</summary>
    public TrainingRun NewRun(TrainingMethod method, int seed = 1) => new(Options, method, seed, BaseModel.Copy(), new ArithmeticTask(Options, Data), CPU, BaseModel.Copy());

    public TrainingRun NewRun(string method, int seed = 1) => NewRun(TrainingMethod.Parse(method), seed);

    public void Dispose()
    {
        BaseModel.Dispose();
        try
        {
            Directory.Delete(Folder, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}
